"""Feed loaders: the shared 3CX fixtures in every format, the bundled pack, and hand-written bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netdetect.errors import IntelError
from netdetect.intel.indicator import BadValue, make_indicator, normalize_name, parse_url, refang
from netdetect.intel.loaders import load_path, sniff_format
from netdetect.intel.loaders.stix import Unsupported, disjuncts

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "intel" / "3cx"
FIXTURES = SHARED / "formats"
needs_shared = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/intel/3cx not present")

FIXTURE_FORMATS = {
    "3cx_network.txt": "text",
    "3cx_network_defanged.txt": "text",
    "3cx_network.csv": "csv",
    "3cx_stix21_bundle.json": "stix",
    "misp_feed": "misp",
}


def _expected_66() -> set[str]:
    """Independent of the loaders: the research file's high/medium, non-benign network indicators."""
    data = json.loads((SHARED / "indicators.json").read_text())
    out = set()
    for item in data["indicators"]:
        if (
            item["type"] in ("domain", "hostname", "url", "ipv4")
            and item["confidence"] in ("high", "medium")
            and not item.get("benign")
        ):
            out.add(item["value"])
    return out


@needs_shared
@pytest.mark.parametrize("name", sorted(FIXTURE_FORMATS))
def test_each_fixture_format_loads_the_same_66_indicators(name: str) -> None:
    path = FIXTURES / name
    assert sniff_format(path) == FIXTURE_FORMATS[name]
    result = load_path(path)
    values = [i.value for i in result.indicators]
    assert result.problems == []
    assert len(values) == 66
    assert set(values) == _expected_66()
    kinds = {i.value: i.type for i in result.indicators}
    assert kinds["172.93.201.88"] == "ip"
    assert kinds["msstorageboxes.com"] == "domain"
    assert kinds["https://journalide.org/djour.php"] == "url"


@needs_shared
def test_misp_feed_honours_to_ids_and_can_include_the_rest() -> None:
    default = load_path(FIXTURES / "misp_feed")
    assert default.skipped == {"to_ids false": 2}
    everything = load_path(FIXTURES / "misp_feed", include_non_ids=True)
    assert len(everything.indicators) == 68
    assert sum(1 for i in everything.indicators if i.type == "user-agent") == 2


@needs_shared
def test_stix_keeps_confidence_labels_and_sources() -> None:
    result = load_path(FIXTURES / "3cx_stix21_bundle.json")
    ind = next(i for i in result.indicators if i.value == "akamaicontainer.com")
    assert ind.confidence == 85
    assert ind.tags == ("3cx", "smoothoperator", "dprk")
    assert ind.first_reported == "2023-03-29"
    assert any("sophoslabs" in s for s in ind.sources)
    assert ind.origin and ind.origin.endswith(".json:" + str(ind.origin.rsplit(":", 1)[1]))


@needs_shared
def test_bundled_pack_holds_all_98_with_provenance() -> None:
    source = json.loads((SHARED / "indicators.json").read_text())
    result = load_path(REPO / "signatures" / "3cx")
    assert result.problems == []
    assert len(result.indicators) == len(source["indicators"]) == 98
    assert result.pack.counts == {"domain": 29, "email": 5, "hostname": 2, "ip": 22, "url": 40}
    by_value = {i.value: i for i in result.indicators}
    for item in source["indicators"]:
        ind = by_value[item["value"]]
        assert ind.confidence == item["confidence"]
        assert ind.first_reported == item["first_reported"]
        assert ind.benign == bool(item.get("benign"))
        assert list(ind.sources) == item["sources"]
        assert ind.stage == item["stage"]
    assert {i.value for i in result.indicators if i.benign} == {
        "https://www.3cx.com/blog/event-trainings/",
        "www.tradingtechnologies.com",
        "38.108.185.79",
        "38.108.185.115",
    }
    assert len(result.pack.behaviours) == 8
    assert result.pack.created == "2023-03-16" and result.pack.updated == "2023-04-20"


@needs_shared
def test_importer_reproduces_the_committed_pack(tmp_path: Path) -> None:
    import runpy

    module = runpy.run_path(str(REPO / "signatures" / "tools" / "import_3cx.py"))
    assert module["main"](["import_3cx", str(SHARED / "indicators.json"), str(tmp_path)]) == 0
    for name in ("pack.toml", "indicators.jsonl", "behaviours.jsonl"):
        assert (tmp_path / name).read_bytes() == (REPO / "signatures" / "3cx" / name).read_bytes()


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    "defanged, clean",
    [
        ("akamaicontainer[.]com", "akamaicontainer.com"),
        ("akamaicontainer(.)com", "akamaicontainer.com"),
        ("akamaicontainer[dot]com", "akamaicontainer.com"),
        ("hxxps://raw[.]githubusercontent[.]com/x", "https://raw.githubusercontent.com/x"),
        (
            "http[:]//raw.githubusercontent[.]com/IconStorages",
            "http://raw.githubusercontent.com/IconStorages",
        ),
        ("23.254.211[.]230", "23.254.211.230"),
        ("cliego.garcia[@]proton[.]me", "cliego.garcia@proton.me"),
        ("`+http://bug.restoroad[.]com/a+`", "http://bug.restoroad.com/a"),
    ],
)
def test_refang(defanged: str, clean: str) -> None:
    assert refang(defanged) == clean


def test_names_fold_case_dot_and_idn() -> None:
    assert normalize_name("MSStorageBoxes.COM.") == "msstorageboxes.com"
    assert normalize_name("Bücher.Example") == "xn--bcher-kva.example"
    assert normalize_name("xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert normalize_name("bücher\u3002example") == "xn--bcher-kva.example"


def test_url_and_address_normal_forms() -> None:
    assert (
        parse_url("HTTPS://Raw.GitHubUserContent.com:443/IconStorages/images/main/")[0]
        == "https://raw.githubusercontent.com/IconStorages/images/main/"
    )
    assert make_indicator("::ffff:172.93.201.88", None, "t").value == "172.93.201.88"
    ind = make_indicator("10.1.2.3/16", "ip", "t")
    assert (ind.type, ind.value) == ("cidr", "10.1.0.0/16")
    with pytest.raises(BadValue):
        make_indicator("not a thing at all", None, "t")
    ja3 = make_indicator("771,4865-4866,0-23,29-23,0", "ja3", "t")
    assert ja3.type == "ja3" and len(ja3.value) == 32


# ---------------------------------------------------------------- bad lines, file:line


def test_text_loader_reports_bad_lines_with_file_and_line(tmp_path: Path) -> None:
    feed = tmp_path / "c2.txt"
    feed.write_text(
        "# 3CX block from vendor X\nakamaicontainer[.]com\n176.123.5.126;65\n"
        "not a valid value!!\nevil.example;high\n\n# other\nhxxp://1.2.3.4/gate\n"
    )
    result = load_path(feed)
    assert [i.value for i in result.indicators] == [
        "akamaicontainer.com",
        "176.123.5.126",
        "http://1.2.3.4/gate",
    ]
    assert result.indicators[1].confidence == 65
    assert result.indicators[0].notes == "3CX block from vendor X"
    assert result.problems == [
        f"{feed}:4: cannot tell what kind of indicator 'not a valid value!!' is",
        f"{feed}:5: score after ';' is not a number: 'high'",
    ]
    with pytest.raises(IntelError) as err:
        load_path(feed, strict=True)
    assert (err.value.path, err.value.line) == (str(feed), 4)


def test_csv_parses_by_value_when_the_label_lies(tmp_path: Path) -> None:
    feed = tmp_path / "sophos.csv"
    feed.write_text(
        "Indicator,Data,Note\n"
        "Description,https://news.sophos.com/en-us/2023/03/29/3cx-dll-sideloading-attack/,blog\n"
        "URL,akamaicontainer[.]com,C2 (malware/callhome)\n"
        "URL,raw.githubusercontent.com/IconStorages/images/main/,Used for staging\n"
        "SHA256,aa1a8b2b6a6e4b1a9d8f4bbbd6c1e1e6f1b0b3e2a1c8a0e2e6a2b7c4f0e3d2c1,installer\n"
        "IP,999.1.1.1,broken\n"
    )
    result = load_path(feed)
    by_value = {i.value: i for i in result.indicators}
    assert by_value["akamaicontainer.com"].type == "domain"
    assert by_value["akamaicontainer.com"].notes == "C2 (malware/callhome)"
    assert by_value["raw.githubusercontent.com/IconStorages/images/main/"].type == "url"
    assert by_value["aa1a8b2b6a6e4b1a9d8f4bbbd6c1e1e6f1b0b3e2a1c8a0e2e6a2b7c4f0e3d2c1"].type == "hash"
    assert result.pack.sources == ["https://news.sophos.com/en-us/2023/03/29/3cx-dll-sideloading-attack/"]
    assert (
        len(result.problems) == 1
        and result.problems[0] == f"{feed}:6: not an IP address or CIDR: '999.1.1.1'"
    )


def test_csv_volexity_layout_and_extra_columns(tmp_path: Path) -> None:
    feed = tmp_path / "iocs.csv"
    feed.write_text(
        "value,entity_type,description,seen_by\n"
        "akamaicontainer.com,hostname,supply chain,volexity\n"
        "cliego.garcia@proton.me,emailwhois,registrant,\n"
        '"' + "a" * 64 + "," + "b" * 40 + "," + "c" * 32 + '",file,installer,\n'
    )
    result = load_path(feed)
    types = [(i.type, i.value[:4]) for i in result.indicators]
    assert types == [
        ("hostname", "akam"),
        ("email", "clie"),
        ("hash", "aaaa"),
        ("hash", "bbbb"),
        ("hash", "cccc"),
    ]
    assert result.indicators[0].notes == "supply chain; seen_by=volexity"


def test_stix_patterns_or_in_unsupported_and_malformed(tmp_path: Path) -> None:
    assert disjuncts(
        "[domain-name:value = 'a.example' OR url:value = 'http://b.example/x'] "
        "OR [ipv4-addr:value IN ('1.2.3.4', '10.0.0.0/8')]"
    ) == [
        ("domain-name:value", "a.example"),
        ("url:value", "http://b.example/x"),
        ("ipv4-addr:value", "1.2.3.4"),
        ("ipv4-addr:value", "10.0.0.0/8"),
    ]
    with pytest.raises(Unsupported):
        disjuncts("[domain-name:value = 'a.example' AND domain-name:value = 'b.example']")
    bundle = {
        "type": "bundle",
        "id": "bundle--1",
        "objects": [
            {
                "type": "indicator",
                "id": "indicator--1",
                "pattern_type": "stix",
                "pattern": "[ipv6-addr:value = '2001:DB8::1'] OR [file:hashes.MD5 = 'abc']",
                "valid_from": "2023-03-29T00:00:00Z",
                "valid_until": "2023-06-01T00:00:00Z",
                "confidence": 70,
            },
            {
                "type": "indicator",
                "id": "indicator--2",
                "pattern_type": "stix",
                "pattern": "[domain-name:value = 'x.example'] WITHIN 300 SECONDS",
            },
            {
                "type": "indicator",
                "id": "indicator--3",
                "pattern_type": "stix",
                "pattern": "[domain-name:value = ",
            },
            {"type": "indicator", "id": "indicator--4", "pattern_type": "sigma", "pattern": "title: x"},
            {
                "type": "indicator",
                "id": "indicator--5",
                "pattern": "[domain-name:value = 'gone.example']",
                "revoked": True,
            },
        ],
    }
    feed = tmp_path / "b.json"
    feed.write_text(json.dumps(bundle, indent=1))
    result = load_path(feed)
    assert [(i.type, i.value, i.confidence) for i in result.indicators] == [("ip", "2001:db8::1", 70)]
    assert result.indicators[0].valid_until == 1685577600.0
    assert result.unsupported == {"object path file": 1, "pattern": 1, "pattern_type sigma": 1}
    assert result.skipped == {"revoked": 1}
    line3 = next(n for n, ln in enumerate(feed.read_text().splitlines(), 1) if '"indicator--3"' in ln)
    assert len(result.problems) == 1 and result.problems[0].startswith(f"{feed}:{line3}: bad STIX pattern")
    strict_ok = load_path(feed, strict=False)  # unsupported stays non-fatal
    assert strict_ok.indicators
    with pytest.raises(IntelError):
        load_path(feed, strict=True)  # ... but the malformed pattern is fatal in strict mode


def test_misp_export_with_objects_and_composites(tmp_path: Path) -> None:
    export = {
        "response": [
            {
                "Event": {
                    "info": "Lazarus 3CX",
                    "date": "2023-03-29",
                    "Orgc": {"name": "ESET"},
                    "Attribute": [
                        {
                            "uuid": "u1",
                            "type": "domain|ip",
                            "value": "journalide.org|172.93.201.88",
                            "to_ids": True,
                        },
                        {
                            "uuid": "u2",
                            "type": "ja3-fingerprint-md5",
                            "value": "E7D705A3286E19EA42F587B344EE6865",
                            "to_ids": True,
                        },
                        {"uuid": "u3", "type": "sha256", "value": "ab" * 32, "to_ids": True},
                        {"uuid": "u4", "type": "domain|ip", "value": "only-one-part.example", "to_ids": True},
                        {
                            "uuid": "u5",
                            "type": "domain",
                            "value": "deleted.example",
                            "to_ids": True,
                            "deleted": True,
                        },
                    ],
                    "Object": [
                        {
                            "name": "url",
                            "Attribute": [
                                {
                                    "uuid": "u6",
                                    "type": "url",
                                    "object_relation": "url",
                                    "to_ids": True,
                                    "first_seen": "2023-03-29T00:00:00.000000+00:00",
                                    "value": "https://journalide.org/djour.php",
                                }
                            ],
                        }
                    ],
                }
            }
        ]
    }
    feed = tmp_path / "lazarus_3cx.json"
    feed.write_text(json.dumps(export, indent=2))
    assert sniff_format(feed) == "misp"
    result = load_path(feed)
    assert [(i.type, i.value) for i in result.indicators] == [
        ("domain", "journalide.org"),
        ("ip", "172.93.201.88"),
        ("ja3", "e7d705a3286e19ea42f587b344ee6865"),
        ("url", "https://journalide.org/djour.php"),
    ]
    assert result.indicators[-1].first_reported == "2023-03-29"
    assert result.indicators[0].sources == ("ESET / Lazarus 3CX",)
    assert result.unsupported == {"MISP type sha256": 1}
    assert result.skipped == {"deleted": 1}
    line = next(n for n, ln in enumerate(feed.read_text().splitlines(), 1) if '"u4"' in ln)
    assert result.problems == [
        f"{feed}:{line}: domain|ip value 'only-one-part.example' does not have 2 parts"
    ]


def test_zeek_intel_file(tmp_path: Path) -> None:
    feed = tmp_path / "3cx.intel"
    feed.write_text(
        "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\tmeta.do_notice\n"
        "msstorageboxes.com\tIntel::DOMAIN\t3cx\tC2\t-\tT\n"
        "172.93.201.88\tIntel::ADDR\t3cx\t-\thttps://eset.example/\tF\n"
        "198.51.100.0/24\tIntel::SUBNET\tlab\t-\t-\t-\n"
        "raw.githubusercontent.com/IconStorages/images/main/\tIntel::URL\t3cx\t-\t-\t-\n"
        "alice\tIntel::USER_NAME\tlab\t-\t-\t-\n"
        "bad\tNOPE\tlab\t-\t-\t-\n"
        "too\tfew\n"
    )
    assert sniff_format(feed) == "zeek"
    result = load_path(feed)
    assert [(i.type, i.value) for i in result.indicators] == [
        ("domain", "msstorageboxes.com"),
        ("ip", "172.93.201.88"),
        ("cidr", "198.51.100.0/24"),
        ("url", "raw.githubusercontent.com/IconStorages/images/main/"),
    ]
    assert result.indicators[0].notes == "C2; meta.do_notice=T"
    assert result.indicators[1].sources == ("3cx", "https://eset.example/")
    assert result.unsupported == {"Zeek type Intel::USER_NAME": 1}
    assert result.problems == [
        f"{feed}:7: unknown indicator_type 'NOPE'",
        f"{feed}:8: 2 fields, header has 6",
    ]


def test_pack_format_validation(tmp_path: Path) -> None:
    pack = tmp_path / "lab"
    pack.mkdir()
    (pack / "pack.toml").write_text(
        'name = "lab"\ndescription = "test pack"\ndefault_confidence = "low"\n'
        'sources = ["me"]\nindicators = ["indicators.jsonl"]\n'
    )
    (pack / "indicators.jsonl").write_text(
        "\n".join(
            [
                json.dumps({"value": "*.evil.example", "type": "domain", "valid_until": "2024-01-01"}),
                json.dumps({"value": "evil2.example", "type": "domain", "confidence": "certain"}),
                json.dumps({"value": "evil3.example", "type": "domain", "valid_untill": "2024-01-01"}),
                "{not json",
                json.dumps({"value": "203.0.113.7", "type": "ip", "benign": True, "confidence": 40}),
            ]
        )
        + "\n"
    )
    result = load_path(pack)
    assert result.pack.name == "lab" and result.pack.sources == ["me"]
    assert [(i.value, i.confidence, i.benign) for i in result.indicators] == [
        ("evil.example", "low", False),
        ("203.0.113.7", 40, True),
    ]
    assert result.indicators[0].raw == "*.evil.example"
    jsonl = pack / "indicators.jsonl"
    assert [p.split(": ", 1)[0] for p in result.problems] == [f"{jsonl}:2", f"{jsonl}:3", f"{jsonl}:4"]
    (pack / "pack.toml").write_text('indicators = ["../../etc/passwd"]\n')
    with pytest.raises(IntelError, match="outside the pack"):
        load_path(pack)


def test_unreadable_and_unknown_inputs(tmp_path: Path) -> None:
    with pytest.raises(IntelError, match="no such file"):
        load_path(tmp_path / "missing.txt")
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "bundle", "objects": [\n  {"type": ')
    with pytest.raises(IntelError) as err:
        load_path(broken)
    assert err.value.line == 2


def test_csv_without_header_keeps_the_first_row(tmp_path: Path) -> None:
    feed = tmp_path / "bare.csv"
    feed.write_text("akamaicontainer[.]com,c2\n172.93.201.88,c2 server\n")
    result = load_path(feed)
    assert [(i.type, i.value, i.notes) for i in result.indicators] == [
        ("domain", "akamaicontainer.com", "column2=c2"),
        ("ip", "172.93.201.88", "column2=c2 server"),
    ]
