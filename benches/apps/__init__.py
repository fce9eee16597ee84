"""The benchmark scenarios written once per framework (see benches/apps/common.py)."""
