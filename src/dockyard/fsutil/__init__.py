"""Small filesystem helpers shared by content/, layers/ and snapshots/, with no dependency on them
or on runtime/: mounts (mount.py), paths resolved inside a root (paths.py), tree copies (copy.py)."""
