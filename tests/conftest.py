import os

# Nothing may be fetched from a model hub in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
