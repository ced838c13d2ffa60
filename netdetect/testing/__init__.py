"""Test-data generators and writers: nothing here runs in a scan.

- `writer`: the one pcap/pcapng writer (byte-level blocks and streaming `PcapWriter`/`PcapngWriter`);
- `synth`: packet builders (Ethernet .. TCP/UDP, DNS, TLS ClientHello, HTTP, NTP) and `TrafficWriter`
  for whole conversations;
- `sample`: the seeded sample report behind docs/examples and the output tests;
- `shapes`: seeded, labeled captures of each detector's shape and its look-alikes;
- `accuracy`: `run_benchmark(seed, scale)`, per-shape recall and false positives beside RITA's rules
  (benchmarks/detector_accuracy.py prints it);
- `series`: seeded, labeled connection-time series (check-ins and ordinary traffic) for the beacon
  scorer's accuracy benchmark; `evaluate`: recall, false positives and ROC AUC of netdetect and of
  RITA's formula on them (benchmarks/beacon_accuracy.py, tests/test_scoring_accuracy.py);
- `dns`: labelled DNS traffic (tunnels, DNS beacons and their look-alikes) for the DNS detectors'
  tests and benchmarks/dns_accuracy.py.
"""
