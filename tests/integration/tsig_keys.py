"""TSIG keys made by `tsig-keygen`, as the transfer tests give them to apexd, knotd, nsd, named,
dnspython and kdig."""

import re
import subprocess

import dns.tsig
import dns.tsigkeyring

TSIG_KEYGEN = "/usr/sbin/tsig-keygen"


class TsigKey:
    """A TSIG key as `tsig-keygen -a ALG NAME` prints it (the text kept for named)."""

    def __init__(self, name, algorithm, secret, text=None):
        self.name = name
        self.algorithm = algorithm
        self.secret = secret
        self.text = text or ('key "%s" {\n\talgorithm %s;\n\tsecret "%s";\n};\n'
                             % (name, algorithm, secret))

    def named_text(self):
        return self.text

    @property
    def dns_algorithm(self):
        """The name dnspython knows the algorithm by (hmac-md5 has a long one, RFC 8945 §6)."""
        return dns.tsig.HMAC_MD5 if self.algorithm == "hmac-md5" else self.algorithm

    def dns_key(self):
        return dns.tsig.Key(self.name, self.secret, self.dns_algorithm)

    def keyring(self):
        return dns.tsigkeyring.from_text({self.name: (self.dns_algorithm, self.secret)})

    def kdig_arg(self):
        return "%s:%s:%s" % (self.algorithm, self.name, self.secret)

    def with_secret(self, secret):
        return TsigKey(self.name, self.algorithm, secret)


def tsig_keygen(algorithm, name):
    """Run tsig-keygen; returns a TsigKey parsed out of what it prints."""
    p = subprocess.run([TSIG_KEYGEN, "-a", algorithm, name], capture_output=True,
                       text=True, timeout=10)
    if p.returncode != 0:
        raise RuntimeError("%s -a %s %s: exit %d: %s" % (
            TSIG_KEYGEN, algorithm, name, p.returncode, p.stderr.strip()))
    m_name = re.search(r'key\s+"([^"]+)"', p.stdout)
    m_alg = re.search(r"algorithm\s+([\w-]+);", p.stdout)
    m_sec = re.search(r'secret\s+"([A-Za-z0-9+/=]+)";', p.stdout)
    if not (m_name and m_alg and m_sec):
        raise RuntimeError("cannot parse tsig-keygen output:\n%s" % p.stdout)
    if m_name.group(1) != name or m_alg.group(1) != algorithm:
        raise RuntimeError("tsig-keygen printed key %s algorithm %s"
                           % (m_name.group(1), m_alg.group(1)))
    return TsigKey(name, algorithm, m_sec.group(1), p.stdout)
