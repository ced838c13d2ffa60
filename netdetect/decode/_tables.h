/* Generated from netdetect/tables/schema.py by `python -m netdetect.tables > netdetect/decode/_tables.h`:
 * do not edit (tests/test_schema.py checks it is current). */
#ifndef NETDETECT_TABLES_H
#define NETDETECT_TABLES_H

#define DNS_ROW 58
#define DNS_TS 0
#define DNS_CLIENT 8
#define DNS_SERVER 24
#define DNS_CLIENT_PORT 40
#define DNS_SERVER_PORT 42
#define DNS_TCP 44
#define DNS_TXID 45
#define DNS_QUERY 47
#define DNS_QTYPE 51
#define DNS_IS_RESPONSE 55
#define DNS_RCODE 56
#define DNS_LAYOUT {{"ts", 0, "f8"}, {"client", 8, "S16"}, {"server", 24, "S16"}, {"client_port", 40, "u2"}, {"server_port", 42, "u2"}, {"tcp", 44, "b1"}, {"txid", 45, "u2"}, {"query", 47, "i4"}, {"qtype", 51, "i4"}, {"is_response", 55, "b1"}, {"rcode", 56, "i2"}, {NULL, 58, ""}}

#define ANSWER_ROW 44
#define ANSWER_EVENT 0
#define ANSWER_NAME 8
#define ANSWER_RTYPE 12
#define ANSWER_VALUE 16
#define ANSWER_TTL 20
#define ANSWER_ADDR 28
#define ANSWER_LAYOUT {{"event", 0, "i8"}, {"name", 8, "i4"}, {"rtype", 12, "i4"}, {"value", 16, "i4"}, {"ttl", 20, "i8"}, {"addr", 28, "S16"}, {NULL, 44, ""}}

#define TLS_ROW 70
#define TLS_TS 0
#define TLS_CLIENT 8
#define TLS_SERVER 24
#define TLS_CLIENT_PORT 40
#define TLS_SERVER_PORT 42
#define TLS_QUIC 44
#define TLS_SNI 45
#define TLS_ALPN 49
#define TLS_VERSIONS 53
#define TLS_ECH 57
#define TLS_JA3 58
#define TLS_JA3_HASH 62
#define TLS_JA4 66
#define TLS_LAYOUT {{"ts", 0, "f8"}, {"client", 8, "S16"}, {"server", 24, "S16"}, {"client_port", 40, "u2"}, {"server_port", 42, "u2"}, {"quic", 44, "b1"}, {"sni", 45, "i4"}, {"alpn", 49, "i4"}, {"versions", 53, "i4"}, {"ech", 57, "b1"}, {"ja3", 58, "i4"}, {"ja3_hash", 62, "i4"}, {"ja4", 66, "i4"}, {NULL, 70, ""}}

#define HTTP_ROW 60
#define HTTP_TS 0
#define HTTP_CLIENT 8
#define HTTP_SERVER 24
#define HTTP_CLIENT_PORT 40
#define HTTP_SERVER_PORT 42
#define HTTP_METHOD 44
#define HTTP_HOST 48
#define HTTP_URI 52
#define HTTP_USER_AGENT 56
#define HTTP_LAYOUT {{"ts", 0, "f8"}, {"client", 8, "S16"}, {"server", 24, "S16"}, {"client_port", 40, "u2"}, {"server_port", 42, "u2"}, {"method", 44, "i4"}, {"host", 48, "i4"}, {"uri", 52, "i4"}, {"user_agent", 56, "i4"}, {NULL, 60, ""}}

#endif
