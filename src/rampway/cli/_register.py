"""Attach every area's commands to the root app. One import per area module."""
