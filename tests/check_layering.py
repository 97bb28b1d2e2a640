#!/usr/bin/env python3
"""Enforces DESIGN.md's dependency rule: server -> {xfr, control, resolver} -> zone -> zone/wire, nothing back up.

Also: ldns is included only by zone/loader.cpp, and no header mentions ldns; OpenSSL is
included only by crypto/*.cpp, and no header mentions OpenSSL.
Prints `N passed, N failed` and exits non-zero on any violation.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)

# folder -> project folders it may include from
ALLOWED = {
    "zone/wire": {"zone/wire"},
    "zone": {"zone", "zone/wire"},
    "resolver": {"resolver", "zone/wire"},
    "xfr": {"xfr", "zone", "zone/wire", "crypto"},
    "crypto": {"crypto", "zone/wire"},
    "control": {"control", "zone", "zone/wire"},
    "server": {"server", "zone", "zone/wire", "resolver", "xfr", "crypto", "control"},
}
PROJECT_DIRS = ("zone/wire/", "zone/", "resolver/", "xfr/", "crypto/", "control/", "server/")
OPENSSL_IN_HEADER = re.compile(
    r"<openssl/|\b(?:EVP|OSSL|BIO|BN|EC|RSA|DSA|X509|SSL|HMAC)_\w+|\b(?:BIGNUM|BIO)\b|\b(?:evp|ossl|bio|ssl|x509)_\w+_st\b")


def folder_of(rel: str) -> str:
    return "zone/wire" if rel.startswith("zone/wire/") else rel.split("/", 1)[0]


def main() -> int:
    passed = failed = 0
    for path in sorted(ROOT.glob("*/**/*.[ch]pp")):
        rel = path.relative_to(ROOT).as_posix()
        src = folder_of(rel)
        if src not in ALLOWED:
            continue
        text = path.read_text()
        for inc in INCLUDE.findall(text):
            problem = None
            if inc.startswith(PROJECT_DIRS):
                target = folder_of(inc)
                if target not in ALLOWED[src]:
                    problem = f"{src}/ may not include {inc} (DESIGN.md dependency rule)"
            elif inc.startswith("ldns/") and rel != "zone/loader.cpp":
                problem = f"only zone/loader.cpp may include {inc}"
            elif inc.startswith("openssl/") and not (src == "crypto" and rel.endswith(".cpp")):
                problem = f"only crypto/*.cpp may include {inc}"
            elif src == "zone/wire" and "/" in inc and not inc.startswith("zone/wire/"):
                problem = f"zone/wire/ uses the standard library only, not {inc}"
            if problem:
                print(f"FAIL {rel}: {problem}")
                failed += 1
            else:
                passed += 1
        if rel.endswith(".hpp") and re.search(r"\bldns_\w+|<ldns/", text):
            print(f"FAIL {rel}: ldns types must not appear in a header")
            failed += 1
        if rel.endswith(".hpp") and OPENSSL_IN_HEADER.search(text):
            print(f"FAIL {rel}: OpenSSL types must not appear in a header")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
