"""Argument types shared by the command lines (the ``lightway`` command and each
simulator run as a process): a bad value is an argparse error that says what is wrong."""

from __future__ import annotations

import argparse


def port_arg(raw: str) -> int:
    """A TCP port, 0 for any free one (a server that reports the port it got)."""
    return _port(raw, lowest=0)


def listen_port_arg(raw: str) -> int:
    """A TCP port that others are told in advance, so not 0."""
    return _port(raw, lowest=1)


def _port(raw: str, *, lowest: int) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not lowest <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range ({lowest}-65535)")
    return port
