"""One module per verb family; main.py imports only the one a command needs."""
