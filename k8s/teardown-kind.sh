#!/usr/bin/env bash
# Undo k8s/deploy-kind.sh: delete the kind cluster, and with it the KubeRay operator, the RayService, the
# RayJobs and every pod. The data folder (dataset, registry, runs, predictions) and the image stay unless
# --purge is given. Idempotent: what is already gone is skipped.
#
# Usage: k8s/teardown-kind.sh [--purge]
# Environment: IMGCLF_KIND_DATA, the data folder deploy-kind.sh used (default /tmp/imgclf-kind-data).
set -euo pipefail

readonly CLUSTER=imgclf
readonly IMAGE=imgclf:0.1.0
readonly DATA_MARKER=.imgclf-kind-data    # written by deploy-kind.sh: only such a folder is ever deleted
DATA_DIR=${IMGCLF_KIND_DATA:-/tmp/imgclf-kind-data}

die() {
  printf 'teardown-kind.sh: error: %s\n' "$*" >&2
  exit 1
}
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH; install it: $2"
}

purge=0
case ${1:-} in
  "") ;;
  --purge) purge=1 ;;
  -h | --help)
    sed -n '2,7p' "$0"
    exit 0
    ;;
  *) die "unknown argument '$1' (usage: k8s/teardown-kind.sh [--purge])" ;;
esac

need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
if ((purge)); then
  need docker "https://docs.docker.com/engine/install/"
fi

clusters=$(kind get clusters 2>/dev/null || true)   # captured: `kind ... | grep -q` may SIGPIPE under pipefail
if grep -qx "$CLUSTER" <<<"$clusters"; then
  echo "deleting kind cluster $CLUSTER"
  kind delete cluster --name "$CLUSTER"
else
  echo "no kind cluster $CLUSTER"
fi

if ((purge)); then
  case $DATA_DIR in
    /*) ;;
    *) die "IMGCLF_KIND_DATA must be an absolute path; got '$DATA_DIR'" ;;
  esac
  if [[ ! -d $DATA_DIR ]]; then
    echo "no data folder $DATA_DIR"
  elif [[ ! -f $DATA_DIR/$DATA_MARKER ]]; then
    die "$DATA_DIR has no $DATA_MARKER file, so deploy-kind.sh did not make it: not deleting it"
  else
    echo "deleting the data folder $DATA_DIR"
    # The Ray pods wrote as uid 1000, which may not be you: delete through a container when the image exists.
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
      docker run --rm --user 0:0 --volume "$DATA_DIR:/data" "$IMAGE" find /data -mindepth 1 -delete
    fi
    rm -rf "$DATA_DIR"
  fi
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "removing the image $IMAGE"
    docker image rm "$IMAGE" >/dev/null
  fi
fi
echo "done (the Helm repository entry 'kuberay' stays: helm repo remove kuberay)"
