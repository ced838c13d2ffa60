"""Decoders: bulk headers, and the few packets that carry DNS, handshakes or HTTP."""
