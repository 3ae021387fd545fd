"""Platform strings (``os/arch[/variant]``) normalized like containerd's ``platforms`` package.

Pure and network-free: registry rules import it to compare what a file asks for with what an
image index provides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import ImageUse

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


def normalize_platform(text: str) -> str:
    """``linux/aarch64`` → ``linux/arm64``; ``linux/arm`` → ``linux/arm/v7``; lower case."""
    parts = [p.strip().lower() for p in text.strip().split("/")]
    os_name = _OS.get(parts[0], parts[0]) if parts else ""
    arch_in = parts[1] if len(parts) > 1 else ""
    variant = parts[2] if len(parts) > 2 else ""
    arch = _ARCH.get(arch_in, arch_in)
    if arch_in in _ARCH_VARIANT and not variant:
        variant = _ARCH_VARIANT[arch_in]
    if arch == "arm64" and variant in ("v8", "8"):
        variant = ""
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
    from .model import UseKind

    if use.platform:
        return (use.platform,)
    if use.platform_pinned or use.kind is UseKind.SYNTAX:
        return ()
    return wanted
