#!/usr/bin/env bash
# imgclf on a local kind cluster with KubeRay, end to end:
#   kind cluster (k8s/kind-config.yaml) -> KubeRay operator (Helm chart kuberay/kuberay-operator, pinned)
#   -> image (k8s/Dockerfile) loaded into kind -> digits dataset written to the data folder
#   -> RayJob imgclf-train (registers digits-vgg16) -> RayJob imgclf-batch (Parquet predictions)
#   -> `kubectl apply -k k8s/` (volume, RayService, NodePorts) -> wait until the RayService is Ready
#   -> smoke test through a port-forward: classify an image, fetch the Gradio page, read the metrics.
# Idempotent: a second run reuses the cluster, the operator release, the image layers, the dataset and the
# trained model and predictions it finds, and re-checks the service. k8s/teardown-kind.sh undoes it.
#
# Usage: k8s/deploy-kind.sh            (from anywhere; needs docker, kind, kubectl, helm, curl)
# Environment:
#   IMGCLF_KIND_DATA   the data folder on this machine (default /tmp/imgclf-kind-data), mounted into the node
#   IMGCLF_RETRAIN=1   run the training RayJob even though the registry already holds digits-vgg16
#   IMGCLF_SERVE_PORT  local port for the smoke test's port-forward (default 18000)
set -euo pipefail

readonly KUBERAY_CHART_VERSION=1.7.0      # kuberay/kuberay-operator chart = KubeRay v1.7.0 (ray.io/v1 CRDs)
readonly KUBERAY_REPO_URL=https://ray-project.github.io/kuberay-helm/
readonly CLUSTER=imgclf                   # kind-config.yaml `name`; kubectl context kind-imgclf
readonly NAMESPACE=imgclf
readonly IMAGE=imgclf:0.1.0               # the image every manifest names (imagePullPolicy IfNotPresent)
readonly DEFAULT_DATA_DIR=/tmp/imgclf-kind-data   # kind-config.yaml extraMounts hostPath
readonly DATA_MARKER=.imgclf-kind-data    # teardown-kind.sh --purge only deletes a folder carrying it
readonly MODEL=digits-vgg16
DATA_DIR=${IMGCLF_KIND_DATA:-$DEFAULT_DATA_DIR}
LOCAL_PORT=${IMGCLF_SERVE_PORT:-18000}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly K8S="$ROOT/k8s"

log() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'deploy-kind.sh: error: %s\n' "$*" >&2
  exit 1
}
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH; install it: $2"
}

need docker "https://docs.docker.com/engine/install/"
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "https://kubernetes.io/docs/tasks/tools/"
need helm "https://helm.sh/docs/intro/install/"
need curl "your system's package manager (e.g. apt-get install curl)"
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine ('docker info' failed): start Docker, or check DOCKER_HOST"
case $DATA_DIR in
  /*) ;;
  *) die "IMGCLF_KIND_DATA must be an absolute path; got '$DATA_DIR'" ;;
esac

# kubectl and helm only ever talk to this kind cluster, whatever the current context is.
kc() { kubectl --context "kind-$CLUSTER" --namespace "$NAMESPACE" "$@"; }

TMP=$(mktemp -d)
PF_PID=""
cleanup() {
  if [[ -n $PF_PID ]]; then kill "$PF_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- 1. The data folder, mounted into the kind node and from there into every Ray pod at /data ---------------
log "data folder $DATA_DIR"
if [[ -d $DATA_DIR && ! -f $DATA_DIR/$DATA_MARKER && -n $(ls -A "$DATA_DIR") ]]; then
  die "$DATA_DIR is not empty and was not made by deploy-kind.sh: set IMGCLF_KIND_DATA to a new or empty folder"
fi
mkdir -p "$DATA_DIR"
touch "$DATA_DIR/$DATA_MARKER"
for sub in registry runs ray_results predictions; do
  mkdir -p "$DATA_DIR/$sub"
done
# The Ray containers run as uid 1000 (user ray), which need not be yours: let them write the output folders.
chmod 0777 "$DATA_DIR" "$DATA_DIR/registry" "$DATA_DIR/runs" "$DATA_DIR/ray_results" "$DATA_DIR/predictions"

# --- 2. The kind cluster ---------------------------------------------------------------------------------------
# (Output captured before grep: with pipefail, `kind ... | grep -q` could fail on SIGPIPE.)
clusters=$(kind get clusters 2>/dev/null || true)
if grep -qx "$CLUSTER" <<<"$clusters"; then
  log "kind cluster $CLUSTER exists"
  mounts=$(docker inspect --format '{{range .Mounts}}{{.Source}} {{end}}' "$CLUSTER-control-plane" 2>/dev/null || true)
  real_dir=$(cd "$DATA_DIR" && pwd -P)
  [[ " $mounts " == *" $DATA_DIR "* || " $mounts " == *" $real_dir "* ]] ||
    die "kind cluster $CLUSTER does not mount $DATA_DIR (it mounts: ${mounts:-nothing}); use the IMGCLF_KIND_DATA it was created with, or k8s/teardown-kind.sh first"
else
  log "creating kind cluster $CLUSTER"
  sed "s#hostPath: $DEFAULT_DATA_DIR#hostPath: $DATA_DIR#" "$K8S/kind-config.yaml" >"$TMP/kind-config.yaml"
  grep -q "hostPath: $DATA_DIR" "$TMP/kind-config.yaml" || die "could not set the data folder in kind-config.yaml"
  kind create cluster --name "$CLUSTER" --config "$TMP/kind-config.yaml" --wait 180s
fi
kubectl --context "kind-$CLUSTER" cluster-info >/dev/null || die "kubectl cannot reach the kind cluster $CLUSTER"

# --- 3. The KubeRay operator: CRDs (ray.io/v1 RayCluster, RayJob, RayService) and controller -----------------
log "KubeRay operator, chart kuberay/kuberay-operator $KUBERAY_CHART_VERSION"
helm repo add kuberay "$KUBERAY_REPO_URL" --force-update >/dev/null
helm repo update kuberay >/dev/null
helm upgrade --install kuberay-operator kuberay/kuberay-operator --version "$KUBERAY_CHART_VERSION" \
  --kube-context "kind-$CLUSTER" --namespace ray-system --create-namespace --wait --timeout 5m
kubectl --context "kind-$CLUSTER" wait --for=condition=Established --timeout=60s \
  crd/rayclusters.ray.io crd/rayjobs.ray.io crd/rayservices.ray.io

# --- 4. The image: built here (cached layers make a rebuild cheap), copied into the kind node ----------------
log "building $IMAGE"
DOCKER_BUILDKIT=1 docker build --file "$K8S/Dockerfile" --tag "$IMAGE" "$ROOT"
log "loading $IMAGE into kind (skipped by kind when the node already has it)"
kind load docker-image "$IMAGE" --name "$CLUSTER"

# --- 5. The dataset: written by the image's own `imgclf data digits`, as you, into the data folder ------------
if [[ -d $DATA_DIR/digits ]]; then
  log "dataset $DATA_DIR/digits exists"
else
  log "writing the digits dataset to $DATA_DIR/digits"
  rm -rf "$DATA_DIR/.digits-partial"
  docker run --rm --user "$(id -u):$(id -g)" --env HOME=/tmp --volume "$DATA_DIR:/data" "$IMAGE" \
    imgclf data digits /data/.digits-partial
  mv "$DATA_DIR/.digits-partial" "$DATA_DIR/digits"
fi

# --- 6. Namespace and volume, then the RayJobs ------------------------------------------------------------------
log "namespace $NAMESPACE and the data volume"
kubectl --context "kind-$CLUSTER" apply -f "$K8S/namespace.yaml"
kc apply -f "$K8S/volume.yaml"

# Runs a RayJob afresh (a RayJob runs once, so delete the old one first) and waits until it ends: deployment
# status Complete or ValidationFailed, or Failed with no retry left (spec.backoffLimit).
run_rayjob() {
  local name=$1 file=$2 timeout_s=$3 deadline deployment="" status="" failed retries
  log "RayJob $name ($file)"
  kc delete rayjob "$name" --ignore-not-found --wait=true
  kc create -f "$file"
  retries=$(kc get rayjob "$name" -o jsonpath='{.spec.backoffLimit}')
  deadline=$((SECONDS + timeout_s))
  while ((SECONDS < deadline)); do
    deployment=$(kc get rayjob "$name" -o jsonpath='{.status.jobDeploymentStatus}')
    status=$(kc get rayjob "$name" -o jsonpath='{.status.jobStatus}')
    failed=$(kc get rayjob "$name" -o jsonpath='{.status.failed}')
    printf '  %s: deployment %s, job %s\n' "$name" "${deployment:-pending}" "${status:-pending}"
    case $deployment in
      Complete | ValidationFailed) break ;;
      Failed) if ((${failed:-0} > ${retries:-0})); then break; fi ;;
    esac
    sleep 15
  done
  if [[ $status != SUCCEEDED ]]; then
    kc logs "job/$name" --tail=200 >&2 || true
    die "RayJob $name did not succeed (deployment ${deployment:-pending}, job ${status:-pending}); kubectl --context kind-$CLUSTER -n $NAMESPACE describe rayjob $name"
  fi
  kc logs "job/$name" --tail=15 || true
}

if [[ -d $DATA_DIR/registry/$MODEL && ${IMGCLF_RETRAIN:-0} != 1 ]]; then
  log "the registry holds $MODEL: no training (IMGCLF_RETRAIN=1 trains again)"
else
  run_rayjob imgclf-train "$K8S/rayjob-train.yaml" 5400
fi
if compgen -G "$DATA_DIR/predictions/*.parquet" >/dev/null; then
  log "predictions exist in $DATA_DIR/predictions: no batch run (empty that folder to classify again)"
else
  run_rayjob imgclf-batch "$K8S/rayjob-batch.yaml" 1800
fi

# --- 7. The long-lived part: RayService and NodePorts; the PodMonitor where the Prometheus Operator runs --------
log "kubectl apply -k k8s/"
kc apply -k "$K8S"
if kubectl --context "kind-$CLUSTER" get crd podmonitors.monitoring.coreos.com >/dev/null 2>&1; then
  kc apply -f "$K8S/podmonitor.yaml"
else
  log "no Prometheus Operator (CRD podmonitors.monitoring.coreos.com): k8s/podmonitor.yaml not applied"
fi
log "waiting for the RayService imgclf to be Ready"
kc wait --for=condition=Ready rayservice/imgclf --timeout=20m

# --- 8. Smoke test through a port-forward to KubeRay's Serve Service ------------------------------------------
log "port-forward svc/imgclf-serve-svc to 127.0.0.1:$LOCAL_PORT"
kc port-forward svc/imgclf-serve-svc "$LOCAL_PORT:8000" >"$TMP/port-forward.log" 2>&1 &
PF_PID=$!
url=http://127.0.0.1:$LOCAL_PORT
ready=""
for _ in $(seq 1 60); do
  if ready=$(curl -sf --max-time 5 "$url/readyz"); then break; fi
  kill -0 "$PF_PID" 2>/dev/null || die "kubectl port-forward exited: $(cat "$TMP/port-forward.log")"
  sleep 2
done
[[ -n $ready ]] || die "$url/readyz did not answer 200 within 2 minutes"
echo "  readyz: $ready"

image=$(find "$DATA_DIR/digits" -name '*.png' -print | sort | sed -n 1p)   # sed reads all: no SIGPIPE
[[ -n $image ]] || die "no PNG image below $DATA_DIR/digits"
answer=$(curl -sf --max-time 30 -F "file=@$image" "$url/v1/classify?top_k=3") || die "POST $url/v1/classify failed"
[[ $answer == *'"label"'* ]] || die "unexpected classify answer: $answer"
echo "  classify $(basename "$(dirname "$image")")/$(basename "$image"): $answer"

curl -sf --max-time 30 "$url/ui/" -o "$TMP/page.html" || die "GET $url/ui/ failed"
grep -qi "<html" "$TMP/page.html" || die "GET $url/ui/ answered something other than an HTML page"
echo "  Gradio page: $url/ui/ ($(wc -c <"$TMP/page.html") bytes)"

# Each Ray node exports what its own processes recorded; the API's metrics come from the pod running the
# Api replica, a few seconds after the request (Ray's metrics report interval).
found=""
for _ in $(seq 1 30); do
  for pod in $(kc get pods -l app.kubernetes.io/component=serve,ray.io/is-ray-node=yes -o name); do
    metrics=$(kc exec "$pod" -- python -c \
      "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/metrics', timeout=10).read().decode())" \
      2>/dev/null) || continue
    if grep -q '^ray_imgclf_requests_total' <<<"$metrics"; then
      found=$pod
      break 2
    fi
  done
  sleep 4
done
[[ -n $found ]] || die "no Ray pod exports ray_imgclf_requests_total on :8080/metrics"
echo "  metrics: ray_imgclf_requests_total exported by $found on :8080/metrics"

curl -sf --max-time 10 "http://127.0.0.1:30800/healthz" >/dev/null ||
  die "the NodePort mapping http://127.0.0.1:30800 (k8s/services.yaml, kind-config.yaml) does not answer"

log "imgclf runs on kind cluster $CLUSTER"
cat <<EOF
  API        http://127.0.0.1:30800/v1/classify   (OpenAPI: http://127.0.0.1:30800/docs)
  try it     curl -F file=@$image 'http://127.0.0.1:30800/v1/classify?top_k=3'
  page       http://127.0.0.1:30800/ui/
  dashboard  http://127.0.0.1:30265/
  metrics    per Ray pod, port 8080 (each exports its own processes'), e.g.
             kubectl --context kind-$CLUSTER -n $NAMESPACE port-forward $found 8080:8080; curl http://127.0.0.1:8080/metrics
  data       $DATA_DIR (registry/, runs/, predictions/ ...)
  remove     k8s/teardown-kind.sh   (--purge also deletes the data folder and the image)
EOF
