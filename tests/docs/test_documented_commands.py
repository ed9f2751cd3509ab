"""Every command the documentation shows is accounted for, and the documentation builds with `mkdocs --strict`.

What counts as a command: in README.md and docs/*.md, inside a fenced block whose info string is `bash` or `sh`,
every line that is neither blank nor a comment (a line ending in `\\` joins the next one); inside a `console` or
`text` block, only a line that starts with the prompt `$ ` (the rest of such a block is output, such as `make demo`'s
transcript). A trailing ` # comment` outside quotes is dropped and runs of blanks become one space.

Each command is a key of exactly one inventory:
- RUN_BY: the pytest node ids that run it, with its placeholders (HEAD, JOB_ID, GCS_PORT, photos/, ...) filled in by
  the test. A test runs the command itself or the same call through the same entry point: the `imgclf` command
  in-process (`run_cli`), a `make` target's command, `curl`'s request sent with httpx. Each node id must name a test
  function (or method) that exists in its file.
- NOT_RUNNABLE: why the test suite cannot run it (it serves until Ctrl-C, needs Docker or a real bucket, ...).
Every command a test can run is run by one. A command the documentation shows but no inventory lists fails, and so
does an inventory key it no longer shows.

README.md is not a page of the site, so its relative links (files and `#anchors`) are checked here; mkdocs checks
the links between pages.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

from utils.prerequisites import require_module

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
FENCE = re.compile(r"^```(\S*)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
EVERY_LINE, PROMPTED_LINES = {"bash", "sh"}, {"console", "text"}
PROMPT = "$ "

CLI = "tests/integration/cli/"
BATCH = "tests/integration/batch/"
SERVING = "tests/integration/serving/"
TRAINING = "tests/integration/training/"
TWO_HOSTS = "tests/integration/deploy/test_two_host_cluster.py::"
TRAINED_RUN = f"{TRAINING}test_run.py::"
OPTIMIZE = "tests/integration/optimization/test_optimize.py::"
OBSERVABILITY = "tests/unit/test_observability.py::"
LOCAL_CLUSTER = "tests/unit/test_local_cluster.py::"
CLUSTER_UP = f"{CLI}test_cluster_command.py::test_up_status_down"
JOBS = f"{BATCH}test_batch_jobs.py::test_imgclf_jobs_submit_status_and_logs"
SERVE_COMMAND = f"{SERVING}test_serve_command.py::test_serve_command_serves_prints_urls_and_stops_on_ctrl_c"
CLASSIFY = f"{BATCH}test_classify.py::"
HTTP_CLASSIFY = f"{SERVING}test_http_api.py::test_classify_equals_imgclf_predict"
CANARY_MOVES = f"{SERVING}test_canary_serving.py::test_promote_then_rollback_under_load_lose_no_request"
RETRAIN = f"{TRAINING}test_retrain_with_corrections.py::test_equal_files_are_counted_once_and_a_corrections_label_wins"
MKDOCS_TEST = "tests/docs/test_documented_commands.py::test_the_documentation_builds_strict"

RUN_BY: dict[str, tuple[str, ...]] = {
    "imgclf train --data data/digits --image-size 32 --epochs 15": (
        f"{TRAINED_RUN}test_train_exits_0_and_prints_the_comparison_table",),
    "imgclf train --data photos/ --models vgg16 --weights imagenet --fine-tune-epochs 2": (
        f"{TRAINING}test_transfer.py::test_imagenet_weights_missing_from_the_keras_cache_fail_with_the_path",
        f"{TRAINING}test_transfer.py::test_pretrained_base_trains_head_then_block5_and_resumes_after_a_killed_worker"),
    "imgclf train --data data/digits --image-size 32 --epochs 15 --optimize int8": (
        f"{OPTIMIZE}test_train_optimize_stores_variants_with_their_guard_and_speed",),
    "imgclf data digits data/digits": (
        f"{CLI}test_first_run_output.py::test_data_digits_writes_every_digit_in_a_folder_per_class",),
    "imgclf train --help": (f"{CLI}test_cli_errors.py::test_help_of_every_command",),
    "imgclf models list": (f"{TRAINED_RUN}test_models_list_shows_the_five_models",),
    "imgclf predict digits-vgg16 some.png other.jpg --top-k 3": (
        f"{TRAINED_RUN}test_predict_json_agrees_with_the_stored_test_predictions",),
    "imgclf predict digits-vgg16 some.png --explain explanations/": (
        f"{CLI}test_predict_explain.py::test_explain_writes_the_apis_explanation_and_its_picture_for_each_readable_"
        "image[digits-vgg16]",),
    "imgclf predict digits-knn-pixels some.png --explain explanations/": (
        f"{CLI}test_predict_explain.py::test_explain_writes_the_apis_explanation_and_its_picture_for_each_readable_"
        "image[digits-knn-pixels]",),
    "imgclf predict digits-dt-pixels some.png --explain explanations/": (
        f"{CLI}test_predict_explain.py::test_explain_writes_the_apis_explanation_and_its_picture_for_each_readable_"
        "image[digits-dt-pixels]",),
    "imgclf predict digits-vgg16 some.png --explain explanations/ --explain-class 3": (
        f"{CLI}test_predict_explain.py::test_explain_class_explains_the_named_class_and_json_output_stays_json",),
    "imgclf evaluate digits-knn-pixels --data data/digits": (
        f"{TRAINED_RUN}test_evaluate_reproduces_the_knn_accuracy",),
    "imgclf optimize digits-vgg16 --precision int8": (
        f"{TWO_HOSTS}test_serve_replicas_on_both_nodes_run_a_variant_published_from_one_host_after_both_cached_"
        "the_model",),
    "imgclf optimize digits-vgg16 --precision int8 --precision bf16": (
        f"{OPTIMIZE}test_one_call_stores_a_variant_for_each_precision_asked_for",),
    "ray start --head --dashboard-host 127.0.0.1": (f"{CLI}test_ray_job.py::test_ray_job_submit_runs_jobs_train",),
    "ray job submit --address http://127.0.0.1:8265 --working-dir . -- python jobs/train.py --data /shared/digits "
    "--registry /shared/registry --storage-path /shared/ray_results": (
        f"{CLI}test_ray_job.py::test_ray_job_submit_runs_jobs_train",),
    "imgclf train --address http://127.0.0.1:8265 --data /shared/digits --registry /shared/registry": (
        f"{CLI}test_ray_job.py::test_imgclf_train_with_a_dashboard_address_submits_a_job",),
    "imgclf train --data data/digits --address 127.0.0.1:GCS_PORT ...": (
        f"{CLI}test_ray_job.py::test_imgclf_train_with_a_gcs_address_trains_on_that_head",),
    "imgclf classify photos/ --model digits-vgg16 --output predictions/": (
        f"{CLASSIFY}test_one_row_per_file_and_a_summary",
        f"{CLI}test_first_run_output.py::test_classify_ends_with_its_summary"),
    "imgclf classify photos/ --model digits-vgg16 --output predictions/ --show 10": (
        f"{CLASSIFY}test_show_prints_the_first_rows_of_the_output",),
    "imgclf classify photos/ --model digits-vgg16 --output predictions/ --resume": (
        f"{CLASSIFY}test_resume_after_a_killed_job_writes_each_file_once",),
    "imgclf classify photos/ --model digits-vgg16 --output out/ --address 127.0.0.1:GCS_PORT": (
        f"{CLASSIFY}test_resume_after_a_killed_job_writes_each_file_once",),
    "ray job submit --address http://HEAD:8265 --working-dir . -- python jobs/batch_classify.py /data/photos --model "
    "digits-vgg16 --output /data/predictions --registry /data/registry": (
        f"{BATCH}test_batch_jobs.py::test_ray_job_submit_runs_batch_classify",),
    "imgclf jobs submit classify --address http://HEAD:8265 -- /data/photos --model digits-vgg16 --output "
    "/data/predictions --registry /data/registry": (JOBS,),
    "imgclf jobs submit classify --address http://127.0.0.1:8265 -- /abs/photos --model digits-vgg16 ...": (JOBS,),
    "imgclf jobs status --address http://HEAD:8265 JOB_ID": (JOBS,),
    "imgclf jobs logs --address http://HEAD:8265 JOB_ID [--follow]": (JOBS,),
    "imgclf serve --registry .demo/registry --model 'digits-*'": (SERVE_COMMAND,),
    "imgclf serve promote --address http://127.0.0.1:8265": (CANARY_MOVES,),
    "imgclf serve promote --address http://127.0.0.1:53985": (CANARY_MOVES,),
    "imgclf train --data data/digits --models knn --features pixels --name digits": (RETRAIN,),
    "imgclf train --data data/digits --data data/corrections --models knn --features pixels --name digits": (RETRAIN,),
    "imgclf data digits data/paper --inverted": (
        "tests/unit/data/test_digits.py::test_the_data_command_writes_inverted_digits",),
    "for f in data/paper/*/digit_000*.png; do echo \"$f $(curl -s -F file=@$f "
    "'http://127.0.0.1:8000/v1/classify?top_k=1')\"; done": (HTTP_CLASSIFY,),
    "imgclf serve rollback --address http://127.0.0.1:8265": (CANARY_MOVES,),
    "imgclf train --data data/digits --data /data/corrections --name digits": (RETRAIN,),
    "imgclf train --data data/digits --data /data/corrections --name digits --registry .demo/registry": (RETRAIN,),
    "serve deploy serve_config.yaml --address http://HEAD:8265": (SERVE_COMMAND,),
    "imgclf serve --address http://127.0.0.1:8265": (SERVE_COMMAND,),
    "imgclf serve --address http://HEAD:8265 --model digits-vgg16:3": (SERVE_COMMAND,),
    "curl -F file=@.demo/digits/7/digit_0007.png 'http://127.0.0.1:8000/v1/classify?top_k=3'": (HTTP_CLASSIFY,),
    "curl --data-binary @photo.jpg -H 'content-type: image/jpeg' http://127.0.0.1:8000/v1/classify": (HTTP_CLASSIFY,),
    "curl -F file=@.demo/digits/7/digit_0007.png 'http://127.0.0.1:8000/v1/explain?model=digits-knn-pixels'": (
        f"{SERVING}test_explain_route.py::test_explain_equals_imgclf_predict_explain",),
    "promtool check rules platform/imgclf/observability/rules.yml": (
        f"{OBSERVABILITY}test_promtool_accepts_the_rules",),
    "promtool check config /tmp/imgclf-head-XXXX/prometheus.yml": (
        CLUSTER_UP,
        f"{LOCAL_CLUSTER}test_the_config_loads_imgclfs_rules_by_absolute_path_and_promtool_accepts_it"),
    "make cluster-up": (CLUSTER_UP,),
    "make cluster-up WORKERS=2": (CLUSTER_UP,),
    "imgclf cluster status": (CLUSTER_UP,),
    "make cluster-down": (CLUSTER_UP,),
    "ray start --head --node-ip-address HEAD_IP --dashboard-host 0.0.0.0 --metrics-export-port 8080": (
        f"{TWO_HOSTS}test_a_head_bound_to_a_network_address_runs_with_token_auth",),
    "ray start --address HEAD_IP:6379 --metrics-export-port 8080": (
        f"{TWO_HOSTS}test_batch_job_model_actors_run_on_both_nodes",),
    ".venv/bin/python k8s/generate_rayservice.py --check": (
        "tests/unit/k8s/test_k8s_rayservice_generator.py::test_check_passes_on_the_committed_file",),
    "kubectl kustomize k8s/": (
        "tests/unit/k8s/test_k8s_core_manifests.py::test_kustomize_renders_every_listed_kind_into_the_namespace",),
    ".venv/bin/mkdocs build --strict --site-dir /tmp/imgclf-site": (MKDOCS_TEST,),
}

S3 = "needs a real S3 bucket (the suite's S3 is an in-memory server for the registry only)"
NOT_RUNNABLE: dict[str, str] = {
    "git clone <this repository> imgclf && cd imgclf": "a placeholder URL, and the network; CI's .ci/run starts "
                                                       "from a clean clone",
    "imgclf serve --model digits-vgg16:1 --canary 2 --canary-weight 10": "serves until Ctrl-C; test_canary_serving.py "
    "deploys the same user_config (`canary: {version, weight}`) and test_serve_command.py runs `imgclf serve`",
    "imgclf serve --model digits-knn-pixels:1 --registry registry --feedback-dir data/corrections --request-log "
    "requests --request-log-sample 1": "serves until Ctrl-C; test_serve_options.py checks the config these options "
    "deploy, test_gradio_corrections.py and test_request_log_serving.py serve it",
    "imgclf serve --model digits-knn-pixels:1 --registry registry --canary 2 --canary-weight 20": "serves until "
    "Ctrl-C; test_serve_options.py checks the config these options deploy, test_canary_serving.py serves it",
    "make demo": "serves until Ctrl-C; its steps run in test_first_run_output.py (train, classify) and "
                 "test_serve_command.py (serve 'digits-*')",
    "make test": "the test suite itself (what CI runs)",
    "make test-fast": "a subset of the test suite itself",
    "make bench": "long measurements that want the machine to themselves; tests/bench tests their code",
    "make reliability": "the reliability tests at full size; the test suite runs the same tests small",
    "source .venv/bin/activate": "changes the calling interactive shell; tests call .venv/bin/ directly",
    "imgclf train --address auto --data data/digits": "`auto` finds the cluster through /tmp/ray/ray_current_cluster, "
                                                      "which the suite never relies on (its clusters get their own "
                                                      "temp folders and explicit addresses)",
    "imgclf classify s3://bucket/images --model digits-vgg16 --output s3://bucket/predictions --top-k 5 "
    "--batch-size 64 --embeddings --pushgateway http://127.0.0.1:9091": f"{S3}; the options run in "
                                                                       "test_batch_pushgateway.py and "
                                                                       "test_classify.py (--embeddings)",
    "serve run serve_config.yaml": "runs in the foreground until Ctrl-C on .demo/registry, which only make demo "
                                   "writes; test_serve_command.py deploys the same file with `serve deploy`",
    "prometheus --config.file=/tmp/imgclf-head-XXXX/prometheus.yml": "a Prometheus server in the foreground until "
                                                                     "stopped; test_cluster_command.py checks this "
                                                                     "config with promtool",
    "export IMGCLF_REGISTRY=s3://bucket/imgclf/registry": f"sets the calling shell's environment; {S3}",
    "imgclf jobs submit train --address http://HEAD_IP:8265 -- --data /nfs/digits --storage-path "
    "s3://bucket/imgclf/ray_results": f"{S3}, and an NFS folder on several machines",
    "imgclf jobs submit classify --address http://HEAD_IP:8265 -- s3://bucket/photos --model digits-vgg16 --output "
    "s3://bucket/predictions": f"{S3}; the same submission with local folders runs in test_batch_jobs.py",
    "imgclf serve --address http://HEAD_IP:8265 --host 0.0.0.0 --registry s3://bucket/imgclf/registry": (
        f"binds every interface of a multi-machine head; {S3}"),
    "k8s/deploy-kind.sh": "needs a Docker engine, kind and Helm; tests/unit/k8s checks the script with bash -n and "
                          "shellcheck and the manifests against the KubeRay schemas",
    "k8s/teardown-kind.sh [--purge]": "deletes a kind cluster (needs kind); tests/unit/k8s checks the script",
    ".venv/bin/mkdocs serve": "serves the pages until Ctrl-C; test_the_documentation_builds_strict builds them",
}


def without_comment(line: str) -> str:
    """`line` up to a `#` that starts a shell comment (after a blank, outside quotes)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def commands_in(markdown: str) -> list[str]:
    """The command lines of `markdown`'s fenced blocks, by the rule of this module's docstring."""
    found: list[str] = []
    language: str | None = None  # None: outside a fenced block
    pending = ""
    for raw in markdown.splitlines():
        fence = FENCE.match(raw)
        if fence:
            language = fence.group(1) if language is None else None
            continue
        if language in EVERY_LINE:
            line = raw
        elif language in PROMPTED_LINES and raw.startswith(PROMPT):
            line = raw[len(PROMPT):]
        else:
            continue
        line = pending + without_comment(line).strip()
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        pending = ""
        if line:
            found.append(" ".join(line.split()))
    return found


def documented_commands() -> dict[str, list[str]]:
    """Every documented command → the files showing it."""
    shown: dict[str, list[str]] = {}
    for document in DOCUMENTS:
        for command in commands_in(document.read_text(encoding="utf-8")):
            shown.setdefault(command, []).append(str(document.relative_to(REPO)))
    return shown


def test_fenced_blocks_yield_their_commands() -> None:
    markdown = ("```bash\nmake demo    # trains\n# a comment\nimgclf serve \\\n    --model 'a#b'\n```\n"
                "```text\noutput line\n$ curl http://x\n```\n```yaml\nmake: no\n```\n")
    assert commands_in(markdown) == ["make demo", "imgclf serve --model 'a#b'", "curl http://x"]


def test_every_documented_command_is_in_exactly_one_inventory() -> None:
    inventories = (RUN_BY, NOT_RUNNABLE)
    unlisted = {command: files for command, files in documented_commands().items()
                if sum(command in inventory for inventory in inventories) != 1}
    assert not unlisted, f"documented commands in no inventory, or in several (command: files): {unlisted}"


def test_every_inventory_command_is_still_documented() -> None:
    shown = documented_commands()
    stale = [command for inventory in (RUN_BY, NOT_RUNNABLE) for command in inventory
             if command not in shown]
    assert not stale, f"inventory entries the documentation no longer shows: {stale}"


def test_every_node_id_names_an_existing_test() -> None:
    missing = [node for nodes in RUN_BY.values() for node in nodes if not names_a_test(node)]
    assert not missing, f"node ids naming no test: {missing}"


def names_a_test(node_id: str) -> bool:
    """Whether `path::[Class::]function` names a test function of that file (parameters ignored)."""
    path, *names = node_id.split("[", 1)[0].split("::")
    file = REPO / path
    if not file.is_file() or not names:
        return False
    scope: list[ast.stmt] = ast.parse(file.read_text(encoding="utf-8")).body
    for name in names:
        found = next((node for node in scope if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.name == name), None)
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef))



def test_the_documentation_builds_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict`: every page in the nav, every link between pages and every anchor resolves."""
    require_module("mkdocs", "mkdocs")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]


def slug(heading: str) -> str:
    """The anchor MkDocs gives a heading (Python-Markdown's toc slugify of its text)."""
    text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def anchors_of(markdown: str) -> set[str]:
    """The anchors of `markdown`'s headings, outside fenced blocks."""
    anchors, fenced = set(), False
    for line in markdown.splitlines():
        fenced ^= bool(FENCE.match(line))
        heading = None if fenced else HEADING.match(line)
        if heading:
            anchors.add(slug(heading.group(1)))
    return anchors


def test_readmes_relative_links_reach_a_file_and_its_anchor() -> None:
    broken = []
    for target in LINK.findall((REPO / "README.md").read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        file = REPO / path if path else REPO / "README.md"
        if not file.is_file() or (anchor and anchor not in anchors_of(file.read_text(encoding="utf-8"))):
            broken.append(target)
    assert not broken, f"README.md links that reach no file or no heading: {broken}"
