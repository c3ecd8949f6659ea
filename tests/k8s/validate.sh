#!/usr/bin/env bash
# make k8s-validate (part of make check): deploy/kubernetes/ against the
# Kubernetes API schemas, since no cluster runs where sluice is tested.
#
#   tests/k8s/validate.sh [DIR...]        (default: deploy/kubernetes)
#
# 1. kubeconform (strict: an unknown or misspelt field is an error) against
#    the JSON schemas of the Kubernetes versions in K8S_VERSIONS.
# 2. What a schema cannot say: the Deployment's selector matches its pods and
#    the PodDisruptionBudget's; probes name a declared port; every ConfigMap
#    and Secret key the pods use exists; the configuration file loads
#    (`sluice check`'s parser, through `sluice help-config` keys); requests and
#    the non-root, read-only securityContext are there.
# 3. The check must be able to fail: each manifest under tests/k8s/broken/
#    must be refused (by kubeconform, or by step 2 when the file says so).
#
# Pinned, fetched once into ~/.cache/sluice (then it takes about a second):
#   kubeconform   through the Go module proxy (go install)
#   the schemas   from the PyPI package kubernetes-validate, whose wheel carries
#                 them (checked against its sha256); its $refs are rewritten
#                 to resolve locally, since kubeconform would fetch them over
#                 HTTPS from a host that is not reachable here.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$REPO/tests/k8s"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
KUBECONFORM_VERSION=v0.7.0
KV_VERSION=1.37.0
KV_SHA256=85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
K8S_VERSIONS="${K8S_VERSIONS:-1.31.0 1.37.0}"
KUBECONFORM="$CACHE/bin/kubeconform-$KUBECONFORM_VERSION"
SCHEMAS="$CACHE/k8s-schemas/kubernetes-validate-$KV_VERSION"

log() { printf 'k8s-validate: %s\n' "$*" >&2; }

install_kubeconform() {
    [ -x "$KUBECONFORM" ] && return
    command -v go >/dev/null || { log "needs Go (go install $KUBECONFORM_VERSION of kubeconform)"; exit 1; }
    log "go install github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    local tmp
    tmp="$(mktemp -d)"
    GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >&2
    mkdir -p "$CACHE/bin"
    mv "$tmp/kubeconform" "$KUBECONFORM"
    rm -rf "$tmp"
}

install_schemas() {
    local v missing=""
    for v in $K8S_VERSIONS; do
        [ -f "$SCHEMAS/v$v-standalone-strict/deployment-apps-v1.json" ] || missing="$missing $v"
    done
    [ -n "$missing" ] || return 0
    local tmp whl
    tmp="$(mktemp -d)"
    log "pip download kubernetes-validate==$KV_VERSION (its schemas for Kubernetes$missing)"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "kubernetes-validate==$KV_VERSION" >&2
    whl="$(ls "$tmp"/kubernetes_validate-"$KV_VERSION"-*.whl)"
    echo "$KV_SHA256  $whl" | sha256sum -c --quiet - ||
        { log "the wheel's sha256 is not the pinned one"; rm -rf "$tmp"; exit 1; }
    python3 - "$whl" "$SCHEMAS" $missing <<'PY'
import json, os, sys, zipfile
whl, dest, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
def local_refs(o):
    # kubernetes-validate resolves "/api/_definitions.json#…" against each
    # schema's $id (https://kubernetes.io/api/…); without the $id, relative
    # to the file: _definitions.json beside it.
    if isinstance(o, dict):
        o.pop('$id', None)
        r = o.get('$ref')
        if isinstance(r, str) and r.startswith('/api/_definitions.json'):
            o['$ref'] = r[len('/api/'):]
        for v in o.values():
            local_refs(v)
    elif isinstance(o, list):
        for v in o:
            local_refs(v)
with zipfile.ZipFile(whl) as z:
    for v in versions:
        prefix = f'kubernetes_validate/kubernetes-json-schema/v{v}-local-strict/'
        names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith('.json')]
        if not names:
            sys.exit(f'kubernetes-validate has no schemas for Kubernetes {v}')
        out = os.path.join(dest, f'v{v}-standalone-strict')
        os.makedirs(out + '.tmp', exist_ok=True)
        for n in names:
            s = json.loads(z.read(n))
            local_refs(s)
            with open(os.path.join(out + '.tmp', os.path.basename(n)), 'w') as f:
                json.dump(s, f)
        os.replace(out + '.tmp', out)
PY
    rm -rf "$tmp"
}

# kubeconform_run VERSION FILE...: strict validation; its output on stdout.
kubeconform_run() {
    local v="$1"
    shift
    "$KUBECONFORM" -strict -summary -skip Kustomization -kubernetes-version "$v" \
        -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
        "$@"
}

# The rules a schema cannot express, over every manifest in the given files.
policy_check() {
    python3 "$HERE/policy.py" "$REPO/build/sluice" "$@"
}

install_kubeconform
install_schemas

dirs=("$@")
[ "${#dirs[@]}" -gt 0 ] || dirs=("$REPO/deploy/kubernetes")
failed=0
for v in $K8S_VERSIONS; do
    out="$(kubeconform_run "$v" "${dirs[@]}" 2>&1)" || { failed=1; }
    log "Kubernetes $v: ${out##*$'\n'}"
    [ "$failed" -eq 0 ] || { printf '%s\n' "$out" >&2; break; }
done
if [ "$failed" -eq 0 ]; then
    policy_check "${dirs[@]}" || failed=1
fi

# The check can fail: every broken manifest is refused, by the step its file names.
refused=0
for f in "$HERE"/broken/*.yaml; do
    want="$(sed -n 's/^# refused by: *//p' "$f" | head -1)"
    case "$want" in
    kubeconform) rc=0; out="$(kubeconform_run "${K8S_VERSIONS%% *}" "$f" 2>&1)" || rc=$? ;;
    policy) rc=0; out="$(policy_check "$f" 2>&1)" || rc=$? ;;
    *) log "$f: no '# refused by: kubeconform|policy' line"; failed=1; continue ;;
    esac
    expect="$(sed -n 's/^# expect: *//p' "$f" | head -1)"
    if [ "$rc" -eq 0 ]; then
        log "FAIL: $(basename "$f") was accepted by $want"
        failed=1
    elif [ -n "$expect" ] && ! grep -qF -- "$expect" <<<"$out"; then
        log "FAIL: $(basename "$f") was refused, but not for \"$expect\": $out"
        failed=1
    else
        refused=$((refused + 1))
    fi
done
log "broken manifests refused: $refused of $(ls "$HERE"/broken/*.yaml | wc -l)"
if [ "$failed" -ne 0 ]; then
    log "FAILED"
    exit 1
fi
log "deploy/kubernetes is valid against Kubernetes $K8S_VERSIONS"
