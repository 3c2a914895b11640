"""Notifications: the mail digest."""
