"""Utilities for users who write their own contexts."""
