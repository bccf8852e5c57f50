"""TLS 1.2 probes with GnuTLS (check_tls_library = gnutls, the default; issue 12: a resumed
TLS 1.2 handshake costs GnuTLS less CPU than OpenSSL). What a user sees: a node that closes
after each answer is probed over resumed TLS 1.2 sessions made by GnuTLS
(nodegate_probe_tls12_gnutls_handshakes_total), the certificate and the name are verified
as with OpenSSL, with OpenSSL's words for the failure, and check_tls_library = openssl keeps
OpenSSL. The node is nodesim (OpenSSL's server), its certificates made here by openssl(1)."""

import pytest

from harness import HOST, SLOW, free_port, metric_value, wait_for
from test_health import be, check_keys, probes, rippled_sim, transitions, wait_up


def status(sp):
    return [("status", {"bind": f"{HOST}:{sp}"})]


def handshakes(sp, version, session):
    return metric_value(sp, "nodegate_probe_tls_handshakes_total", version=version,
                        session=session)


def gnutls_handshakes(sp):
    return metric_value(sp, "nodegate_probe_tls12_gnutls_handshakes_total")


@pytest.fixture(scope="module")
def elsewhere(certs):
    """A self-signed certificate for other.example only (no localhost, no 127.0.0.1)."""
    return certs.make("elsewhere", cn="other.example", san="DNS:other.example")


def refused_with(g, name):
    """The reason NAME went down for, when it was its certificate, or None."""
    for t in transitions(g, name):
        if t.to == "down" and "certificate verify failed" in t.reason:
            return t.reason
    return None


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_closing_node_resumes_gnutls_tls12_sessions_verified(h, certs, name):
    """Default library, verification on (the CA trusted through SSL_CERT_FILE, as OpenSSL
    reads it), the node named by address or by DNS name: one full TLS 1.3 handshake
    (OpenSSL), one full TLS 1.2 handshake, then resumed TLS 1.2 handshakes, all of them
    GnuTLS's; the node sees every probe after the first two on a resumed session."""
    sp = free_port()
    n1 = rippled_sim(h, certs, "n1")
    g = h.gate(h.gate_ini([be(n1, check_address=f"{name}:{n1.peer_port}",
                             check_tls_verify="yes")],
                          pool=check_keys("20ms"), extra=status(sp)),
               env={"SSL_CERT_FILE": certs.cert})
    wait_up(g, ["n1"])
    wait_for(lambda: handshakes(sp, "1.2", "resumed") >= 10, 5 * SLOW, "10 resumed TLS 1.2")
    s = n1.stats()
    assert s["peer_tls12"] >= s["peer_requests"] - 1, s
    assert s["peer_resumed"] >= s["peer_requests"] - 2, s
    assert handshakes(sp, "1.3", "full") == 1
    assert handshakes(sp, "1.2", "full") == 1
    tls12 = handshakes(sp, "1.2", "full") + handshakes(sp, "1.2", "resumed")
    assert gnutls_handshakes(sp) >= tls12 - 1 >= 10  # a probe may end between the two reads
    assert metric_value(sp, "nodegate_probe_tls12_fallbacks_total") == 0
    assert [t.to for t in transitions(g, "n1")] == ["up"]
    assert g.alive()


def test_openssl_library_keeps_openssl(h, certs):
    """check_tls_library = openssl: the same resumed TLS 1.2 probes, none made by GnuTLS."""
    sp = free_port()
    n1 = rippled_sim(h, certs, "n1")
    g = h.gate(h.gate_ini([be(n1, check_tls_library="openssl")], pool=check_keys("20ms"),
                          extra=status(sp)))
    wait_up(g, ["n1"])
    wait_for(lambda: handshakes(sp, "1.2", "resumed") >= 10, 5 * SLOW, "10 resumed TLS 1.2")
    s = n1.stats()
    assert s["peer_resumed"] >= s["peer_requests"] - 2, s
    assert handshakes(sp, "1.2", "full") == 1
    assert gnutls_handshakes(sp) == 0
    assert g.alive()


def verify_refused(h, certs, node_cert, trusted, address, library):
    """A TLS 1.2 probe (from the first one) with verification against a node serving
    NODE_CERT, TRUSTED as the CA: the node goes down and never comes up, no request
    reaches it, nothing retries over TLS 1.3. Returns the reason of its going down."""
    sp = free_port()
    n1 = rippled_sim(h, certs, "n1", extra=["--cert", node_cert[0], "--key", node_cert[1]])
    n2 = rippled_sim(h, certs, "n2")
    g = h.gate(h.gate_ini([be(n1, check_address=f"{address}:{n1.peer_port}",
                             check_tls_verify="yes", check_tls_max_version="1.2",
                             check_tls_library=library),
                          be(n2)], pool=check_keys("50ms"), extra=status(sp)),
               env={"SSL_CERT_FILE": trusted})
    wait_up(g, ["n2"])
    wait_for(lambda: refused_with(g, "n1") is not None, 3 * SLOW,
             "n1 down on its certificate")
    wait_for(lambda: handshakes(sp, "1.2", "resumed") >= 3, 5 * SLOW, "n2 probed on")
    assert [t.to for t in transitions(g, "n1") if t.to == "up"] == [], "n1 came up"
    assert probes(n1) == 0, "a request went out over an unverified connection"
    assert metric_value(sp, "nodegate_probe_tls12_fallbacks_total") == 0
    assert g.alive()
    return refused_with(g, "n1")


@pytest.mark.parametrize("library", ["gnutls", "openssl"])
def test_wrong_ca_refuses_the_node(h, certs, library):
    """The node's certificate is not the trusted one (SSL_CERT_FILE names another): refused,
    in OpenSSL's words whichever the library."""
    why = verify_refused(h, certs, (certs.cert, certs.key), certs.other_cert, HOST, library)
    assert why == "tls: certificate verify failed: self-signed certificate", why


@pytest.mark.parametrize("library", ["gnutls", "openssl"])
@pytest.mark.parametrize("address,reason", [("localhost", "hostname mismatch"),
                                            (HOST, "IP address mismatch")])
def test_name_mismatch_refuses_the_node(h, certs, elsewhere, library, address, reason):
    """A trusted certificate for another name: refused on the name (DNS) or the address."""
    why = verify_refused(h, certs, elsewhere, elsewhere[0], address, library)
    assert why == f"tls: certificate verify failed: {reason}", why
