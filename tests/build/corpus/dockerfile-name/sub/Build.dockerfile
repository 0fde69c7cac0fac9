FROM busybox
COPY named.txt /
RUN echo built from a named Dockerfile
