"""netdetect: find beaconing hosts and threat-actor infrastructure in packet captures."""

__version__ = "0.1.0"
