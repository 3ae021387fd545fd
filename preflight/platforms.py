"""Platform strings (``os/arch[/variant]``) normalized like containerd's ``platforms`` package.

Pure and network-free: registry rules import it to compare what a file asks for with what an
image index provides.
"""

from __future__ import annotations

import re

from .model import ImageUse, UseKind

_ARCH = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}
_ARCH_VARIANT = {"armhf": "v7", "armel": "v6"}
_OS = {"macos": "darwin"}

# The values Go knows (go/build/syslist.go: knownOS, knownArch), which containerd and BuildKit take.
KNOWN_OS = frozenset(
    "aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris wasip1"
    " windows zos".split()
)
KNOWN_ARCH = frozenset(
    "386 amd64 amd64p32 arm armbe arm64 arm64be loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le ppc"
    " ppc64 ppc64le riscv riscv64 s390 s390x sparc sparc64 wasm".split()
)
# Variants with a fixed set (containerd's normalizeArch, GOAMD64, GOARM, GOARM64); other
# architectures' variants (GO386, GORISCV64, GOPPC64 values) are only checked for their form.
_VARIANTS = {
    "amd64": frozenset({"v1", "v2", "v3", "v4"}),
    "arm": frozenset({"v5", "v6", "v7", "v8"}),
    "arm64": frozenset({"v8", *(f"v8.{n}" for n in range(10)), "v9", *(f"v9.{n}" for n in range(6))}),
}
_VARIANT_FORM = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}\Z")


def platform_error(text: str) -> str | None:
    """Why ``text`` is not a platform containerd would take (``os/arch[/variant]``, aliases such as
    ``x86_64`` and ``aarch64`` allowed), or None when it is one."""
    parts = [p.strip().lower() for p in text.strip().split("/")]
    if not 2 <= len(parts) <= 3 or not all(parts):
        return f"{text!r} is not os/arch[/variant] (e.g. linux/arm64 or linux/arm/v7)"
    os_name, arch = _OS.get(parts[0], parts[0]), _ARCH.get(parts[1], parts[1])
    if os_name not in KNOWN_OS:
        return f"{text!r}: unknown operating system {parts[0]!r}{_near(parts[0], KNOWN_OS)}"
    if arch not in KNOWN_ARCH:
        return f"{text!r}: unknown architecture {parts[1]!r}{_near(parts[1], KNOWN_ARCH)}"
    if len(parts) == 3:
        variant = parts[2] if not parts[2].isdigit() else "v" + parts[2]
        allowed = _VARIANTS.get(arch)
        if (allowed is not None and variant not in allowed) or not _VARIANT_FORM.match(variant):
            known = f" ({', '.join(sorted(allowed))})" if allowed is not None and len(allowed) < 8 else ""
            return f"{text!r}: unknown variant {parts[2]!r} for {arch}{known}"
    return None


def _near(word: str, known: frozenset[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def normalize_platform(text: str) -> str:
    """``linux/aarch64`` → ``linux/arm64``; ``linux/arm`` → ``linux/arm/v7``; lower case."""
    parts = [p.strip().lower() for p in text.strip().split("/")]
    os_name = _OS.get(parts[0], parts[0]) if parts else ""
    arch_in = parts[1] if len(parts) > 1 else ""
    variant = parts[2] if len(parts) > 2 else ""
    arch = _ARCH.get(arch_in, arch_in)
    if arch_in in _ARCH_VARIANT and not variant:
        variant = _ARCH_VARIANT[arch_in]
    if arch == "arm64" and variant in ("v8", "8", "v8.0", "8.0"):
        variant = ""
    elif arch == "arm64" and variant in ("9", "9.0", "v9.0"):
        variant = "v9"
    if arch == "arm":
        if not variant:
            variant = "v7"
        elif variant.isdigit():
            variant = "v" + variant
    if arch == "amd64" and variant == "v1":
        variant = ""
    return "/".join(p for p in (os_name, arch, variant) if p)


def provides(available: tuple[str, ...] | list[str], wanted: str) -> bool:
    """Whether an image offering ``available`` satisfies ``wanted`` (both any spelling).

    As containerd's ``platforms.Only`` (what BuildKit pulls with): ``amd64`` also takes ``386``,
    ``arm/vN`` takes ``arm/v(N-1)`` down to ``v5``, and ``arm64`` takes 32-bit ``arm/v8`` and
    below. A wanted platform without a variant accepts any variant of that architecture, except
    32-bit ARM, where the variant defaults to v7.
    """
    accepted = _compatible(normalize_platform(wanted))
    for item in available:
        have = normalize_platform(item)
        if have in accepted:
            return True
        have_parts = have.split("/")
        for want in accepted:
            want_parts = want.split("/")
            if len(want_parts) == 2 and have_parts[:2] == want_parts and want_parts[1] != "arm":
                return True
    return False


def _compatible(want: str) -> list[str]:
    parts = want.split("/")
    os_name, arch = parts[0], parts[1] if len(parts) > 1 else ""
    variant = parts[2] if len(parts) > 2 else ""
    out = [want]
    if arch == "amd64":
        out.append(f"{os_name}/386")
    arm_from = variant if arch == "arm" else ("v8" if arch == "arm64" else "")
    if arm_from[1:].isdigit():
        out += [f"{os_name}/arm/v{n}" for n in range(int(arm_from[1:]), 4, -1) if f"{os_name}/arm/v{n}" != want]
    return out


def required_platforms(use: ImageUse, wanted: tuple[str, ...]) -> tuple[str, ...]:
    """Platforms ``use`` must provide: its own (``FROM --platform=``, compose ``platform:``), else
    the ones asked for (``--platform``, config). A use that pins its platform through a variable
    (``$BUILDPLATFORM``) and the ``# syntax=`` frontend (it runs on the build machine) get none."""
    if use.platform:
        return (use.platform,)
    if use.platform_pinned or use.kind is UseKind.SYNTAX:
        return ()
    return wanted
