"""Every major registry, as it really answers: one table of documented answers, replayed with respx.

Each row is what one vendor answers in one situation (tag missing, repository missing, private
without credentials, the anonymous token flow), taken from the vendor's documentation or a public
issue thread that shows the real exchange; the comment above each row names it. A row lists the
routes it serves (method, URL, status, challenge, error body), most specific first (a route with
``auth`` answers only requests carrying that ``Authorization``), and the rule and message preflight
must report. ``respx.mock(assert_all_called=True)`` asserts that every route was used, so a row is
also a statement about which requests preflight sends (token service on another host, path prefix,
no request the vendor does not need).

The answers go through the production registry step (``batch.run``: endpoints, address guard,
transport, auth flow, client classification); respx replaces only the socket (httpcore's pool), and
DNS is a table. Then the registry rules run on the facts, as in a real ``preflight check``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from preflight.config import Config, RegistryConfig
from preflight.engine import RuleContext, Selection, evaluate
from preflight.imageref import ImageRef
from preflight.model import Document, ImageUse, Location, Summary, UseKind
from preflight.registry import Lookup, Resolution, Settings
from preflight.registry.batch import run
from preflight.registry.transport import Limits
from preflight.resolve import resolve_documents

PUBLIC_IP = ["93.184.216.34"]
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DIGEST = "sha256:" + "ab" * 32
HUB_TOKEN = "https://auth.docker.io/token"
ARTIFACTORY = "https://artifactory.example.com/artifactory/api/docker/docker-local"


@dataclass(frozen=True)
class Route:
    method: str
    url: str  # without query: respx matches any query; ``params`` narrows it
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: object = None  # dict/list: JSON; str: text; None: empty
    auth: str | None = None  # only requests with exactly this Authorization header
    params: Mapping[str, str] | None = None  # only requests whose query holds these values


@dataclass(frozen=True)
class Case:
    id: str
    reference: str
    routes: tuple[Route, ...]
    rule: str | None  # the one PF2xx finding expected, None: no finding (the image is fine)
    message: str  # a fragment of that finding's message
    detail: str = ""  # a fragment of what the client concluded (``ImageFacts.detail``)
    login: tuple[str, str, str] | None = None  # (config.json key, user, secret)
    endpoint: tuple[str, str] | None = None  # (registry domain, registries.<domain>.endpoint)


def errors(code: str, message: str) -> dict[str, object]:
    return {"errors": [{"code": code, "message": message, "detail": None}]}


def bearer(realm: str, service: str, scope: str = "", error: str = "") -> dict[str, str]:
    value = f'Bearer realm="{realm}",service="{service}"'
    value += f',scope="{scope}"' if scope else ""
    value += f',error="{error}"' if error else ""
    return {"www-authenticate": value}


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def image_found(url: str, token: str | None) -> Route:
    return Route(
        "HEAD",
        url,
        200,
        {"content-type": OCI_INDEX, "docker-content-digest": DIGEST},
        auth=f"Bearer {token}" if token else None,
    )


HUB_CHALLENGE = bearer(HUB_TOKEN, "registry.docker.io", "repository:library/python:pull")
HUB_TOKEN_OK = Route("GET", HUB_TOKEN, 200, body={"token": "hub", "access_token": "hub", "expires_in": 300})

CASES: tuple[Case, ...] = (
    # ---------------------------------------------------------------- Docker Hub
    # Tag missing: HEAD 404 after the anonymous token; "manifest unknown" (docker pull of a tag that
    # was never pushed: github.com/11notes/docker-keeweb/issues/3, github.com/ivangabriele/dockfish/issues/13).
    # The tag list is the Distribution spec's tags/list (distribution/distribution docs/spec/api.md).
    Case(
        "dockerhub-tag-missing",
        "python:3.12-slimm",
        (
            Route(
                "HEAD", "https://registry-1.docker.io/v2/library/python/manifests/3.12-slimm", 404, auth="Bearer hub"
            ),
            Route("HEAD", "https://registry-1.docker.io/v2/library/python/manifests/3.12-slimm", 401, HUB_CHALLENGE),
            Route(
                "GET",
                "https://registry-1.docker.io/v2/library/python/tags/list",
                200,
                body={"name": "library/python", "tags": ["3.12", "3.12-slim", "3.11-slim"]},
                auth="Bearer hub",
            ),
            HUB_TOKEN_OK,
        ),
        "PF201",
        'tag "3.12-slimm" not found in docker.io/library/python; did you mean "3.12-slim"?',
    ),
    # Repository missing, anonymous: auth.docker.io issues a token for any scope, then the registry
    # answers 401 insufficient_scope, the same as for a private repository
    # (github.com/distribution/distribution/issues/1291, github.com/docker-archive/docker-registry/issues/1071).
    Case(
        "dockerhub-repository-missing-anonymous",
        "someone/pyhton:1",
        (
            Route(
                "HEAD",
                "https://registry-1.docker.io/v2/someone/pyhton/manifests/1",
                401,
                bearer(HUB_TOKEN, "registry.docker.io", "repository:someone/pyhton:pull", "insufficient_scope"),
                auth="Bearer hub",
            ),
            Route(
                "HEAD",
                "https://registry-1.docker.io/v2/someone/pyhton/manifests/1",
                401,
                bearer(HUB_TOKEN, "registry.docker.io", "repository:someone/pyhton:pull"),
            ),
            Route("GET", HUB_TOKEN, 200, body={"token": "hub"}, params={"scope": "repository:someone/pyhton:pull"}),
        ),
        "PF203",
        "docker.io/someone/pyhton does not exist, or it is private",
        "registry-1.docker.io denies anonymous access: the repository does not exist, or it is private",
    ),
    # Private, logged in without access: the same 401 insufficient_scope with a token issued for the
    # user's credentials (github.com/moby/moby/issues/30498: "does not exist or no pull access").
    Case(
        "dockerhub-private-with-credentials",
        "someone/private:1",
        (
            Route(
                "HEAD",
                "https://registry-1.docker.io/v2/someone/private/manifests/1",
                401,
                bearer(HUB_TOKEN, "registry.docker.io", "repository:someone/private:pull", "insufficient_scope"),
                auth="Bearer hub",
            ),
            Route(
                "HEAD",
                "https://registry-1.docker.io/v2/someone/private/manifests/1",
                401,
                bearer(HUB_TOKEN, "registry.docker.io", "repository:someone/private:pull"),
            ),
            Route("GET", HUB_TOKEN, 200, body={"token": "hub"}, auth=basic("bob", "pw")),
        ),
        "PF204",
        "docker.io/someone/private does not exist, or the credentials from ~/docker/config.json (auths) have no pull",
        "registry-1.docker.io denies access: the repository does not exist, or the credentials",
        login=("https://index.docker.io/v1/", "bob", "pw"),
    ),
    # ---------------------------------------------------------------- GHCR
    # Private or missing, anonymous: the anonymous token request itself fails with 401
    # (github.com/openai/tunnel-client/issues/75: `curl 'https://ghcr.io/token?scope=...'` -> 401).
    Case(
        "ghcr-private-anonymous-token-refused",
        "ghcr.io/openai/tunnel-client-runtime:0.0.14",
        (
            Route(
                "HEAD",
                "https://ghcr.io/v2/openai/tunnel-client-runtime/manifests/0.0.14",
                401,
                bearer("https://ghcr.io/token", "ghcr.io", "repository:user/image:pull"),
            ),
            Route(
                "GET",
                "https://ghcr.io/token",
                401,
                body=errors("UNAUTHORIZED", "authentication required"),
                params={"service": "ghcr.io"},
            ),
        ),
        "PF203",
        "ghcr.io/openai/tunnel-client-runtime does not exist, or it is private",
        "the token service ghcr.io refused an anonymous token (HTTP 401)",
    ),
    # Private: 403 DENIED without a WWW-Authenticate challenge
    # (github.com/renovatebot/renovate/issues/11446; "denied: permission_denied: read_package",
    # github.com/kedacore/http-add-on/issues/48).
    Case(
        "ghcr-denied-without-challenge",
        "ghcr.io/kedacore/http-add-on-operator:sha-8c5a4c8",
        (
            Route(
                "HEAD",
                "https://ghcr.io/v2/kedacore/http-add-on-operator/manifests/sha-8c5a4c8",
                403,
                body=errors("DENIED", "permission_denied: read_package"),
            ),
        ),
        "PF203",
        "run docker login ghcr.io to check access",
        "ghcr.io denied anonymous access (HTTP 403",
    ),
    # Tag missing on a public package: anonymous token granted, HEAD 404 "manifest unknown"
    # (github.com/basecamp/once-campfire/issues/14: no `latest` tag published).
    Case(
        "ghcr-tag-missing",
        "ghcr.io/basecamp/once-campfire",
        (
            Route("HEAD", "https://ghcr.io/v2/basecamp/once-campfire/manifests/latest", 404, auth="Bearer djE6"),
            Route(
                "HEAD",
                "https://ghcr.io/v2/basecamp/once-campfire/manifests/latest",
                401,
                bearer("https://ghcr.io/token", "ghcr.io", "repository:user/image:pull"),
            ),
            Route(
                "GET",
                "https://ghcr.io/v2/basecamp/once-campfire/tags/list",
                200,
                body={"name": "basecamp/once-campfire", "tags": ["sha-f3f0193", "main"]},
                auth="Bearer djE6",
            ),
            Route("GET", "https://ghcr.io/token", 200, body={"token": "djE6"}),
        ),
        "PF201",
        'Docker pulls "latest", which does not exist in ghcr.io/basecamp/once-campfire',
    ),
    # ---------------------------------------------------------------- MCR
    # No authentication at all; tag missing: 404 "manifest tagged by "1.4.1" is not found", while
    # tags/list answers (github.com/microsoft/containerregistry/issues/78).
    Case(
        "mcr-tag-missing",
        "mcr.microsoft.com/oss/kubernetes/pause:1.4.1",
        (
            Route(
                "HEAD",
                "https://mcr.microsoft.com/v2/oss/kubernetes/pause/manifests/1.4.1",
                404,
            ),
            Route(
                "GET",
                "https://mcr.microsoft.com/v2/oss/kubernetes/pause/tags/list",
                200,
                body={"name": "oss/kubernetes/pause", "tags": ["1.4.0", "3.6", "3.9"]},
            ),
        ),
        "PF201",
        'tag "1.4.1" not found in mcr.microsoft.com/oss/kubernetes/pause; did you mean "1.4.0"?',
    ),
    # Repository missing: tags/list 404 (github.com/microsoft/containerregistry/issues/57), and
    # /v2/_catalog lists the repositories anonymously (same thread), so there are suggestions.
    Case(
        "mcr-repository-missing-with-catalog",
        "mcr.microsoft.com/dotnet/aspnt:8.0",
        (
            Route("HEAD", "https://mcr.microsoft.com/v2/dotnet/aspnt/manifests/8.0", 404),
            Route("GET", "https://mcr.microsoft.com/v2/dotnet/aspnt/tags/list", 404, body="BlobNotFound"),
            Route(
                "GET",
                "https://mcr.microsoft.com/v2/_catalog",
                200,
                body={"repositories": ["dotnet/aspnet", "dotnet/runtime", "dotnet/sdk"]},
            ),
        ),
        "PF202",
        'repository mcr.microsoft.com/dotnet/aspnt not found; did you mean "mcr.microsoft.com/dotnet/aspnet:8.0"?',
    ),
    # ---------------------------------------------------------------- Quay
    # Missing and forbidden repositories both answer 401, even with a token
    # (github.com/quay/quay/pull/1054: "our api consistently returns 401 when the user either cannot
    # access a resource due to lack of permissions or when the resource doesn't exist";
    # github.com/giantswarm/retagger/pull/353). Challenge realm /v2/auth (github.com/helm/helm/issues/31567).
    Case(
        "quay-missing-or-private-401",
        "quay.io/noexistingorg/internal-app:1.0",
        (
            Route(
                "HEAD",
                "https://quay.io/v2/noexistingorg/internal-app/manifests/1.0",
                401,
                bearer("https://quay.io/v2/auth", "quay.io", "repository:noexistingorg/internal-app:pull"),
            ),
            Route(
                "GET",
                "https://quay.io/v2/auth",
                200,
                body={"token": "quay"},
                params={"scope": "repository:noexistingorg/internal-app:pull", "service": "quay.io"},
            ),
        ),
        "PF203",
        "quay.io/noexistingorg/internal-app does not exist, or it is private",
        "quay.io denies anonymous access: the repository does not exist, or it is private",
    ),
    # Tag missing in a repository the credentials can read: 404 MANIFEST_UNKNOWN; the same tag
    # anonymously is 401 (github.com/openshiftio/saas-openshiftio/pull/1207).
    Case(
        "quay-tag-missing-with-credentials",
        "quay.io/openshiftio/rhel-fabric8-ui-admin-console:e1df25",
        (
            Route(
                "HEAD",
                "https://quay.io/v2/openshiftio/rhel-fabric8-ui-admin-console/manifests/e1df25",
                404,
                auth="Bearer quay",
            ),
            Route(
                "HEAD",
                "https://quay.io/v2/openshiftio/rhel-fabric8-ui-admin-console/manifests/e1df25",
                401,
                bearer(
                    "https://quay.io/v2/auth", "quay.io", "repository:openshiftio/rhel-fabric8-ui-admin-console:pull"
                ),
            ),
            Route(
                "GET",
                "https://quay.io/v2/openshiftio/rhel-fabric8-ui-admin-console/tags/list",
                200,
                body={"name": "openshiftio/rhel-fabric8-ui-admin-console", "tags": ["e1df252"]},
                auth="Bearer quay",
            ),
            Route("GET", "https://quay.io/v2/auth", 200, body={"token": "quay"}, auth=basic("robot", "pw")),
        ),
        "PF201",
        'tag "e1df25" not found in quay.io/openshiftio/rhel-fabric8-ui-admin-console; did you mean "e1df252"?',
        login=("quay.io", "robot", "pw"),
    ),
    # ---------------------------------------------------------------- Amazon ECR (private)
    # No credentials: a Basic challenge, realm the registry itself, service ecr.amazonaws.com
    # (github.com/mayflower/docker-ls/issues/28, github.com/regclient/regclient/issues/110).
    Case(
        "ecr-basic-challenge-without-credentials",
        "111111111111.dkr.ecr.us-east-1.amazonaws.com/myrepo/image:1",
        (
            Route(
                "HEAD",
                "https://111111111111.dkr.ecr.us-east-1.amazonaws.com/v2/myrepo/image/manifests/1",
                401,
                {
                    "www-authenticate": 'Basic realm="https://111111111111.dkr.ecr.us-east-1.amazonaws.com/",'
                    'service="ecr.amazonaws.com"'
                },
                body=errors("UNAUTHORIZED", "Not Authorized"),
            ),
        ),
        "PF203",
        "needs credentials and none are configured for 111111111111.dkr.ecr.us-east-1.amazonaws.com",
        "111111111111.dkr.ecr.us-east-1.amazonaws.com requires credentials and none are configured for it",
    ),
    # Repository missing, with credentials: 404 NAME_UNKNOWN "The repository with name '...' does not
    # exist in the registry with id '...'" (github.com/actions/starter-workflows/issues/2647,
    # github.com/aws-actions/amazon-ecr-login/issues/202).
    Case(
        "ecr-repository-missing",
        "111111111111.dkr.ecr.us-east-1.amazonaws.com/myrepo:1",
        (
            Route(
                "HEAD",
                "https://111111111111.dkr.ecr.us-east-1.amazonaws.com/v2/myrepo/manifests/1",
                404,
                auth=basic("AWS", "token"),
            ),
            Route(
                "HEAD",
                "https://111111111111.dkr.ecr.us-east-1.amazonaws.com/v2/myrepo/manifests/1",
                401,
                {
                    "www-authenticate": 'Basic realm="https://111111111111.dkr.ecr.us-east-1.amazonaws.com/",'
                    'service="ecr.amazonaws.com"'
                },
            ),
            Route(
                "GET",
                "https://111111111111.dkr.ecr.us-east-1.amazonaws.com/v2/myrepo/tags/list",
                404,
                body=errors(
                    "NAME_UNKNOWN",
                    "The repository with name 'myrepo' does not exist in the registry with id '111111111111'",
                ),
                auth=basic("AWS", "token"),
            ),
            Route(
                "GET",
                "https://111111111111.dkr.ecr.us-east-1.amazonaws.com/v2/_catalog",
                200,
                body={"repositories": ["myrepo2", "other"]},
                auth=basic("AWS", "token"),
            ),
        ),
        "PF202",
        'repository 111111111111.dkr.ecr.us-east-1.amazonaws.com/myrepo not found; did you mean "111111111111.dkr'
        '.ecr.us-east-1.amazonaws.com/myrepo2:1"?',
        login=("111111111111.dkr.ecr.us-east-1.amazonaws.com", "AWS", "token"),
    ),
    # Tag missing, with credentials: 404 MANIFEST_UNKNOWN "Requested image not found"
    # (github.com/anchore/syft/issues/982).
    Case(
        "ecr-tag-missing",
        "111111111111.dkr.ecr.ap-south-1.amazonaws.com/security",
        (
            Route(
                "HEAD",
                "https://111111111111.dkr.ecr.ap-south-1.amazonaws.com/v2/security/manifests/latest",
                404,
                auth=basic("AWS", "token"),
            ),
            Route(
                "HEAD",
                "https://111111111111.dkr.ecr.ap-south-1.amazonaws.com/v2/security/manifests/latest",
                401,
                {
                    "www-authenticate": 'Basic realm="https://111111111111.dkr.ecr.ap-south-1.amazonaws.com/",'
                    'service="ecr.amazonaws.com"'
                },
            ),
            Route(
                "GET",
                "https://111111111111.dkr.ecr.ap-south-1.amazonaws.com/v2/security/tags/list",
                200,
                body={"name": "security", "tags": ["v1", "v2"]},
                auth=basic("AWS", "token"),
                params={"n": "1000"},  # ECR refuses pages over 1000 (google/go-containerregistry#681)
            ),
        ),
        "PF201",
        'Docker pulls "latest", which does not exist in 111111111111.dkr.ecr.ap-south-1.amazonaws.com/security',
        login=("111111111111.dkr.ecr.ap-south-1.amazonaws.com", "AWS", "token"),
    ),
    # Expired token: 403 whose body is plain text, not JSON ("error parsing HTTP 403 response body:
    # invalid character 'Y'... Your Authorization Token has expired",
    # github.com/awslabs/amazon-ecr-credential-helper/issues/7).
    Case(
        "ecr-expired-token-403-text-body",
        "222222222222.dkr.ecr.eu-west-1.amazonaws.com/test:latest",
        (
            Route(
                "HEAD",
                "https://222222222222.dkr.ecr.eu-west-1.amazonaws.com/v2/test/manifests/latest",
                403,
                body="Your Authorization Token has expired. Please run 'aws ecr get-login' to fetch a new one.",
                auth=basic("AWS", "old"),
            ),
            Route(
                "HEAD",
                "https://222222222222.dkr.ecr.eu-west-1.amazonaws.com/v2/test/manifests/latest",
                401,
                {
                    "www-authenticate": 'Basic realm="https://222222222222.dkr.ecr.eu-west-1.amazonaws.com/",'
                    'service="ecr.amazonaws.com"'
                },
            ),
        ),
        "PF204",
        "renew the credentials from ~/docker/config.json (auths)",
        "no pull rights, or they expired (HTTP 403)",
        login=("222222222222.dkr.ecr.eu-west-1.amazonaws.com", "AWS", "old"),
    ),
    # ---------------------------------------------------------------- Amazon ECR Public
    # A stale stored token makes public images answer 403 (github.com/aws/containers-roadmap/issues/1296,
    # github.com/awslabs/eksdemo/pull/68): preflight retries once anonymously and the image passes.
    Case(
        "ecr-public-stale-credentials-retried-anonymously",
        "public.ecr.aws/lambda/python:3.12",
        (
            Route(
                "GET",
                "https://public.ecr.aws/token",
                403,
                body=errors("DENIED", "Your authorization token has expired. Reauthenticate and try again."),
                auth=basic("AWS", "stale"),
            ),
            Route("GET", "https://public.ecr.aws/token", 200, body={"token": "anon"}),
            image_found("https://public.ecr.aws/v2/lambda/python/manifests/3.12", "anon"),
            Route(
                "HEAD",
                "https://public.ecr.aws/v2/lambda/python/manifests/3.12",
                401,
                bearer("https://public.ecr.aws/token", "public.ecr.aws", "aws"),
            ),
        ),
        None,
        "",
        login=("public.ecr.aws", "AWS", "stale"),
    ),
    # ---------------------------------------------------------------- Google Artifact Registry / GCR
    # Private or missing, anonymous: the token endpoint on the registry host answers 403 DENIED
    # "Permission ... denied on resource ... (or it may not exist)"
    # (github.com/GoogleContainerTools/skaffold/issues/6743, github.com/GoogleCloudPlatform/gcr-cleaner/issues/76).
    Case(
        "artifact-registry-token-denied-anonymous",
        "us-central1-docker.pkg.dev/proj/repo/app:1",
        (
            Route(
                "HEAD",
                "https://us-central1-docker.pkg.dev/v2/proj/repo/app/manifests/1",
                401,
                bearer("https://us-central1-docker.pkg.dev/v2/token", "us-central1-docker.pkg.dev"),
            ),
            Route(
                "GET",
                "https://us-central1-docker.pkg.dev/v2/token",
                403,
                body=errors(
                    "DENIED",
                    'Permission "artifactregistry.repositories.downloadArtifacts" denied on resource '
                    '"projects/proj/locations/us-central1/repositories/repo" (or it may not exist)',
                ),
                params={"scope": "repository:proj/repo/app:pull", "service": "us-central1-docker.pkg.dev"},
            ),
        ),
        "PF203",
        "us-central1-docker.pkg.dev/proj/repo/app does not exist, or it is private",
        "the token service us-central1-docker.pkg.dev refused an anonymous token (HTTP 403)",
    ),
    # With credentials that lack the role: the manifest request itself answers 403 DENIED with the same
    # "(or it may not exist)" text (github.com/terraform-google-modules/terraform-google-kubernetes-engine/issues/1779).
    # The token service accepted the credentials, so they are valid: the refusal is about this repository
    # (a typo in its name, or no role on it), not "renew the credentials".
    Case(
        "artifact-registry-denied-with-credentials",
        "europe-west2-docker.pkg.dev/proj/ml/app:4.19.5",
        (
            Route(
                "HEAD",
                "https://europe-west2-docker.pkg.dev/v2/proj/ml/app/manifests/4.19.5",
                403,
                auth="Bearer ya29",
            ),
            Route(
                "HEAD",
                "https://europe-west2-docker.pkg.dev/v2/proj/ml/app/manifests/4.19.5",
                401,
                bearer("https://europe-west2-docker.pkg.dev/v2/token", "europe-west2-docker.pkg.dev"),
            ),
            Route(
                "GET",
                "https://europe-west2-docker.pkg.dev/v2/token",
                200,
                body={"token": "ya29", "expires_in": 3600},
                auth=basic("oauth2accesstoken", "ya29.secret"),
            ),
        ),
        "PF204",
        "europe-west2-docker.pkg.dev/proj/ml/app does not exist, or the credentials from ~/docker/config.json (auths) "
        "have no pull access to it; check the name",
        "europe-west2-docker.pkg.dev denied access (HTTP 403): the repository does not exist, or the credentials",
        login=("europe-west2-docker.pkg.dev", "oauth2accesstoken", "ya29.secret"),
    ),
    # gcr.io served by Artifact Registry: unauthenticated requests are refused at the token endpoint
    # ("Unauthenticated requests do not have permission ...", github.com/google/fuzzbench/issues/1981).
    Case(
        "gcr-routed-to-artifact-registry-anonymous",
        "gcr.io/fuzzbench/base-image:latest",
        (
            Route(
                "HEAD",
                "https://gcr.io/v2/fuzzbench/base-image/manifests/latest",
                401,
                bearer("https://gcr.io/v2/token", "gcr.io"),
            ),
            Route(
                "GET",
                "https://gcr.io/v2/token",
                403,
                body=errors(
                    "DENIED",
                    'Unauthenticated requests do not have permission "artifactregistry.repositories.downloadArtifacts"',
                ),
            ),
        ),
        "PF203",
        "gcr.io/fuzzbench/base-image does not exist, or it is private",
        "the token service gcr.io refused an anonymous token (HTTP 403)",
    ),
    # ---------------------------------------------------------------- Azure ACR
    # Anonymous pull disabled: challenge realm /oauth2/token on the registry
    # (github.com/bazelbuild/rules_docker/issues/1193); the anonymous token request is 401
    # (github.com/bazel-contrib/rules_oci/issues/475).
    Case(
        "acr-anonymous-pull-disabled",
        "contoso.azurecr.io/app/web:1",
        (
            Route(
                "HEAD",
                "https://contoso.azurecr.io/v2/app/web/manifests/1",
                401,
                bearer("https://contoso.azurecr.io/oauth2/token", "contoso.azurecr.io", "repository:app/web:pull"),
                body=errors("UNAUTHORIZED", "authentication required"),
            ),
            Route(
                "GET",
                "https://contoso.azurecr.io/oauth2/token",
                401,
                body=errors("UNAUTHORIZED", "authentication required"),
                params={"service": "contoso.azurecr.io", "scope": "repository:app/web:pull"},
            ),
        ),
        "PF203",
        "contoso.azurecr.io/app/web does not exist, or it is private",
        "the token service contoso.azurecr.io refused an anonymous token (HTTP 401)",
    ),
    # Anonymous pull enabled (learn.microsoft.com/azure/container-registry/anonymous-pull-access, cited
    # in github.com/Azure/azure-sdk-for-java/issues/42773): the token response carries only
    # access_token (github.com/Azure/acr/pull/50, docs/AAD-OAuth.md), and the image is found.
    Case(
        "acr-anonymous-pull-enabled",
        "contoso.azurecr.io/samples/hello:1",
        (
            image_found("https://contoso.azurecr.io/v2/samples/hello/manifests/1", "acr"),
            Route(
                "HEAD",
                "https://contoso.azurecr.io/v2/samples/hello/manifests/1",
                401,
                bearer(
                    "https://contoso.azurecr.io/oauth2/token", "contoso.azurecr.io", "repository:samples/hello:pull"
                ),
            ),
            Route("GET", "https://contoso.azurecr.io/oauth2/token", 200, body={"access_token": "acr"}),
        ),
        None,
        "",
    ),
    # ---------------------------------------------------------------- GitLab
    # The token service is on another host: registry.gitlab.com challenges with realm
    # https://gitlab.com/jwt/auth, service container_registry (github.com/deitch/docker_registry2/issues/14,
    # github.com/dotnet/sdk-container-builds/issues/284); a public project needs no credentials
    # (github.com/getwud/wud/pull/1165: anonymous jwt/auth -> 200).
    Case(
        "gitlab-token-service-on-another-host",
        "registry.gitlab.com/gitlab-org/gitlab-runner:latest",
        (
            image_found("https://registry.gitlab.com/v2/gitlab-org/gitlab-runner/manifests/latest", "glt"),
            Route(
                "HEAD",
                "https://registry.gitlab.com/v2/gitlab-org/gitlab-runner/manifests/latest",
                401,
                bearer("https://gitlab.com/jwt/auth", "container_registry", "repository:gitlab-org/gitlab-runner:pull"),
            ),
            Route(
                "GET",
                "https://gitlab.com/jwt/auth",
                200,
                body={"token": "glt"},
                params={"service": "container_registry", "scope": "repository:gitlab-org/gitlab-runner:pull"},
            ),
        ),
        None,
        "",
    ),
    # Invalid credentials: gitlab.com/jwt/auth answers 401 even for a public project
    # (github.com/getwud/wud/pull/1165); preflight retries anonymously, and the public image passes.
    Case(
        "gitlab-bad-credentials-on-a-public-project",
        "registry.gitlab.com/gitlab-org/gitlab-runner:v17",
        (
            image_found("https://registry.gitlab.com/v2/gitlab-org/gitlab-runner/manifests/v17", "glt"),
            Route(
                "HEAD",
                "https://registry.gitlab.com/v2/gitlab-org/gitlab-runner/manifests/v17",
                401,
                bearer("https://gitlab.com/jwt/auth", "container_registry", "repository:gitlab-org/gitlab-runner:pull"),
            ),
            Route("GET", "https://gitlab.com/jwt/auth", 401, auth=basic("me", "dummy")),
            Route("GET", "https://gitlab.com/jwt/auth", 200, body={"token": "glt"}),
        ),
        None,
        "",
        login=("registry.gitlab.com", "me", "dummy"),
    ),
    # Private project, token granted for the credentials but the registry refuses: 403 "denied: access
    # forbidden" (github.com/getwud/wud/issues/600). Valid credentials without access: no anonymous retry.
    Case(
        "gitlab-access-forbidden-with-credentials",
        "registry.gitlab.com/group-name/project-name:latest",
        (
            Route(
                "HEAD",
                "https://registry.gitlab.com/v2/group-name/project-name/manifests/latest",
                403,
                auth="Bearer glt",
            ),
            Route(
                "HEAD",
                "https://registry.gitlab.com/v2/group-name/project-name/manifests/latest",
                401,
                bearer("https://gitlab.com/jwt/auth", "container_registry", "repository:group-name/project-name:pull"),
            ),
            Route("GET", "https://gitlab.com/jwt/auth", 200, body={"token": "glt"}, auth=basic("me", "glpat")),
        ),
        "PF204",
        "registry.gitlab.com/group-name/project-name does not exist, or the credentials from",
        "registry.gitlab.com denied access (HTTP 403): the repository does not exist, or the credentials",
        login=("registry.gitlab.com", "me", "glpat"),
    ),
    # ---------------------------------------------------------------- Harbor
    # Challenge realm /service/token, service harbor-registry (github.com/goharbor/harbor/issues/12192,
    # github.com/google/go-containerregistry/issues/1493); a missing manifest is 404 with code NOT_FOUND,
    # not MANIFEST_UNKNOWN (github.com/buildpacks/lifecycle/pull/304): the status decides.
    Case(
        "harbor-tag-missing-not-found-code",
        "harbor.example.com/library/nginx:1.25.x",
        (
            Route("HEAD", "https://harbor.example.com/v2/library/nginx/manifests/1.25.x", 404, auth="Bearer hb"),
            Route(
                "HEAD",
                "https://harbor.example.com/v2/library/nginx/manifests/1.25.x",
                401,
                bearer("https://harbor.example.com/service/token", "harbor-registry"),
            ),
            Route(
                "GET",
                "https://harbor.example.com/v2/library/nginx/tags/list",
                200,
                body={"name": "library/nginx", "tags": ["1.25.3", "1.25.4"]},
                auth="Bearer hb",
            ),
            Route(
                "GET",
                "https://harbor.example.com/service/token",
                200,
                body={"token": "hb"},
                params={"service": "harbor-registry", "scope": "repository:library/nginx:pull"},
            ),
        ),
        "PF201",
        'tag "1.25.x" not found in harbor.example.com/library/nginx',
    ),
    # Private project, anonymous: the token service issues a token with empty access even for bad or
    # no credentials (github.com/goharbor/harbor/issues/20930), so the registry answers 401 UNAUTHORIZED
    # again (github.com/goharbor/harbor/issues/13653).
    Case(
        "harbor-private-project-anonymous",
        "harbor.example.com/team/app:1",
        (
            Route(
                "HEAD",
                "https://harbor.example.com/v2/team/app/manifests/1",
                401,
                bearer("https://harbor.example.com/service/token", "harbor-registry"),
                body=errors("UNAUTHORIZED", "unauthorized to access repository: team/app, action: pull"),
            ),
            Route("GET", "https://harbor.example.com/service/token", 200, body={"token": "empty-access"}),
        ),
        "PF203",
        "harbor.example.com/team/app does not exist, or it is private",
        "harbor.example.com denies anonymous access: the repository does not exist, or it is private",
    ),
    # ---------------------------------------------------------------- JFrog Artifactory
    # The repository path method: the registry API lives below /artifactory/api/docker/<repository key>
    # (jfrog.com/help/r/jfrog-artifactory-documentation/docker-v1-repository-path-and-domain), the token
    # service too (request log in github.com/swarmpit/swarmpit/issues/266: .../api/docker/docker/v2/<name>/
    # manifests/<tag> 401, then .../api/docker/docker/v2/token). Configured as registries.<host>.endpoint.
    Case(
        "artifactory-path-prefix-tag-missing",
        "artifactory.example.com/team/app:1.0.x",
        (
            Route("HEAD", f"{ARTIFACTORY}/v2/team/app/manifests/1.0.x", 404, auth="Bearer art"),
            Route(
                "HEAD",
                f"{ARTIFACTORY}/v2/team/app/manifests/1.0.x",
                401,
                bearer(f"{ARTIFACTORY}/v2/token", "artifactory.example.com"),
            ),
            Route(
                "GET",
                f"{ARTIFACTORY}/v2/token",
                200,
                body={"token": "art"},
                params={"service": "artifactory.example.com", "scope": "repository:team/app:pull"},
            ),
            Route(
                "GET",
                f"{ARTIFACTORY}/v2/team/app/tags/list",
                200,
                body={"name": "team/app", "tags": ["1.0.0", "1.0.1", "2.0.0"]},
                auth="Bearer art",
            ),
        ),
        "PF201",
        'tag "1.0.x" not found in artifactory.example.com/team/app; did you mean',
        endpoint=("artifactory.example.com", ARTIFACTORY + "/"),
    ),
    # ---------------------------------------------------------------- Sonatype Nexus
    # forceBasicAuth (the default on new Docker repositories): an upper-case BASIC challenge
    # (github.com/sonatype/nexus-public/issues/921); without credentials that is "credentials required".
    Case(
        "nexus-force-basic-auth-without-credentials",
        "nexus.example.com:8443/team/app:1",
        (
            Route(
                "HEAD",
                "https://nexus.example.com:8443/v2/team/app/manifests/1",
                401,
                {"www-authenticate": 'BASIC realm="Sonatype Nexus Repository Manager"'},
                body=errors("UNAUTHORIZED", "access to the requested resource is not authorized"),
            ),
        ),
        "PF203",
        "run docker login nexus.example.com:8443",
        "nexus.example.com:8443 requires credentials and none are configured for it",
    ),
    # Docker Bearer Token Realm: realm /v2/token whose service is itself a URL
    # (github.com/sonatype/nexus-public/issues/611); with "Allow anonymous docker pull" an anonymous
    # token is granted (github.com/sonatype/nexus-public/issues/311) and the image is found.
    Case(
        "nexus-bearer-realm-anonymous-pull",
        "nexus.example.com:5001/team/app:1",
        (
            image_found("https://nexus.example.com:5001/v2/team/app/manifests/1", "nx"),
            Route(
                "HEAD",
                "https://nexus.example.com:5001/v2/team/app/manifests/1",
                401,
                bearer("https://nexus.example.com:5001/v2/token", "https://nexus.example.com:5001/v2/token"),
            ),
            Route(
                "GET",
                "https://nexus.example.com:5001/v2/token",
                200,
                body={"token": "nx"},
                params={"service": "https://nexus.example.com:5001/v2/token"},
            ),
        ),
        None,
        "",
    ),
)


def _respond(route: Route) -> httpx.Response:
    headers = dict(route.headers)
    if isinstance(route.body, dict | list):
        return httpx.Response(route.status, headers=headers, json=route.body)
    if isinstance(route.body, str):
        return httpx.Response(route.status, headers={"content-type": "text/plain", **headers}, text=route.body)
    return httpx.Response(route.status, headers=headers)


def _mount(router: respx.MockRouter, route: Route) -> respx.Route:
    pattern: dict[str, Any] = {}
    if route.auth is not None:
        pattern["headers"] = {"authorization": route.auth}
    if route.params is not None:
        pattern["params"] = dict(route.params)
    return router.route(method=route.method, url=route.url, **pattern).mock(return_value=_respond(route))


def replay(case: Case, tmp_path: Path) -> tuple[Resolution, list[tuple[str, str]], list[respx.Route]]:
    registries = {}
    if case.endpoint is not None:
        registries[case.endpoint[0]] = RegistryConfig(endpoint=case.endpoint[1])
    config = Config(timeout=10.0, daemon_json=str(tmp_path / "absent-daemon.json"), registries=registries)
    docker = tmp_path / "docker"
    docker.mkdir()
    if case.login is not None:
        key, user, secret = case.login
        auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
        (docker / "config.json").write_text(json.dumps({"auths": {key: {"auth": auth}}}))
    settings = Settings(config, {"HOME": str(tmp_path), "DOCKER_CONFIG": str(docker)}, use_cache=False)
    ref = ImageRef.parse(case.reference)
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        routes = [_mount(router, route) for route in case.routes]
        resolution = asyncio.run(
            run([Lookup(ref, frozenset())], settings, limits=Limits(backoff=0.01), resolver=lambda _host: PUBLIC_IP)
        )
    loc = Location("Dockerfile", 1, 6, 1, 6 + len(case.reference))
    doc = Document("Dockerfile", "dockerfile", (ImageUse(UseKind.FROM, loc, case.reference, case.reference),))
    report = evaluate(
        resolve_documents([doc]), Selection(select=("PF2",)), RuleContext(facts=resolution.facts), Summary()
    )
    return resolution, [(f.rule, f.message) for f in report.findings], routes


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vendor_answer_maps_to_rule_and_message(case: Case, tmp_path: Path) -> None:
    resolution, findings, _routes = replay(case, tmp_path)
    if case.rule is None:
        assert findings == []
        return
    assert [rule for rule, _ in findings] == [case.rule], findings
    assert case.message in findings[0][1]
    assert case.detail in next(iter(resolution.facts.values())).detail


def test_the_table_covers_every_vendor_and_situation() -> None:
    prefixes = (
        "dockerhub ghcr mcr quay ecr ecr-public artifact-registry gcr acr gitlab harbor artifactory nexus".split()
    )
    assert all(any(c.id.startswith(p + "-") for c in CASES) for p in prefixes)
    assert {c.rule for c in CASES} >= {"PF201", "PF202", "PF203", "PF204", None}
    assert len({c.id for c in CASES}) == len(CASES)


def test_credentials_never_reach_the_token_service_of_another_vendor(tmp_path: Path) -> None:
    """GitLab's realm is on gitlab.com: the stored registry.gitlab.com password goes there (the
    registry's own challenge names it), and never as Basic to the registry host itself."""
    case = next(c for c in CASES if c.id == "gitlab-access-forbidden-with-credentials")
    _res, _findings, routes = replay(case, tmp_path)
    registry_calls = [
        call for route in routes for call in route.calls if call.request.url.host == "registry.gitlab.com"
    ]
    assert registry_calls
    assert all(not call.request.headers.get("authorization", "").startswith("Basic") for call in registry_calls)
    token_calls = [call for route in routes for call in route.calls if call.request.url.host == "gitlab.com"]
    with_password = [c for c in token_calls if c.request.headers.get("authorization") == basic("me", "glpat")]
    assert len(with_password) == 1 and len(token_calls) == 1
