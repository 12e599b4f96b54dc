#!/usr/bin/env bash
# testssl.sh (Debian package testssl.sh, command testssl) against the
# STARTTLS port: protocols, cipher categories and forward secrecy, its JSON
# verdicts parsed and asserted: no SSLv2/v3, no TLS 1.0/1.1, TLS 1.2 and
# 1.3 offered, no NULL/aNULL/EXPORT/LOW/3DES/RC4/CBC-obsolete ciphers,
# forward secrecy for every cipher (every PFS_ciphers entry is ECDHE or
# TLS 1.3), curves X25519 and P-256 only. About two minutes.
. "$(dirname "$0")/lib.sh"
command -v testssl >/dev/null || fail "testssl not installed (scripts/install-deps.sh)"
mx_setup tlsaudit
T=$MX_TMP/tls
mkdir -p "$T"
chmod 755 "$T"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mx.example.test" \
	-addext "subjectAltName=DNS:mx.example.test" -keyout "$T/a.key" -out "$T/a.pem" 2>/dev/null ||
	fail "openssl req"
chmod 644 "$T/a.key" "$T/a.pem" # test-only key
mx_conf smtp port 25 smtp hostname mx.example.test tls cert "$T/a.pem" tls key "$T/a.key"
mx_start
in_ns timeout 400 testssl --quiet --color 0 --warnings off -t smtp -p -s -f \
	--jsonfile "$MX_TMP/testssl.json" 198.18.0.2:25 >"$MX_TMP/testssl.out" 2>&1 ||
	fail "testssl: $(tail -20 "$MX_TMP/testssl.out")"
out=$(python3 - "$MX_TMP/testssl.json" <<'PY'
import json, sys
v = {e["id"]: e["finding"] for e in json.load(open(sys.argv[1]))}
want_not = ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "cipherlist_NULL", "cipherlist_aNULL",
            "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA",
            "cipherlist_AVERAGE"]
bad = [k for k in want_not if not v.get(k, "").startswith("not offered")]
bad += [k for k in ["TLS1_2", "TLS1_3", "cipherlist_STRONG", "PFS"]
        if not v.get(k, "").startswith("offered")]
pfs = v.get("PFS_ciphers", "").split()
bad += ["non-FS cipher " + c for c in pfs if not (c.startswith("TLS_") or c.startswith("ECDHE-"))]
curves = sorted(v.get("PFS_ECDHE_curves", "").split())
if curves != ["X25519", "prime256v1"]:
    bad.append("curves %r" % curves)
if bad:
    print("testssl verdicts: " + "; ".join("%s=%r" % (b, v.get(b)) for b in bad))
    sys.exit(1)
print("testssl: SSLv2/SSLv3/TLS1/TLS1.1 not offered, TLS1.2 and 1.3 offered, "
      "NULL/aNULL/EXPORT/LOW/3DES/CBC not offered, forward secrecy for all %d ciphers "
      "(%s), curves %s" % (len(pfs), " ".join(pfs), " ".join(curves)))
PY
) || fail "$out"
pass "$out"
mx_stop
