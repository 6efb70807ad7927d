"""Helpers the tests share (they hold no tests): fixture roots, rank hygiene, probe-result checks."""
