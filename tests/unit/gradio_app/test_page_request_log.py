"""The page's classifications go to the request log as the API's do: the upload as sent, the version that answered,
route /ui."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

from test_page_corrections import CanaryClassifier

from imgclf.serving.page import PAGE_ROUTE, PageBackend
from imgclf.serving.request_log import read_request_log
from imgclf.serving.service import ClassifyService
from imgclf.serving.settings import ApiConfig, RequestLogConfig
from utils.images import BLUE, make_image_bytes


def test_a_page_classification_is_logged_with_its_upload_and_version(tmp_path: Path) -> None:
    log = tmp_path / "log"
    service = ClassifyService(CanaryClassifier(), ApiConfig(request_log=RequestLogConfig(folder=str(log), sample=1.0,
                                                                                         flush_s=0.05)))
    upload = tmp_path / "upload.png"
    upload.write_bytes(make_image_bytes("png", color=BLUE))
    before = time.time()
    answer = asyncio.run(PageBackend(service).classify(str(upload)))
    service.close()
    [row] = read_request_log(log).to_pylist()
    assert (row["route"], row["model"], row["model_version"], row["label"]) == (PAGE_ROUTE, "pets", "2", "dog")
    assert row["image_sha256"] == hashlib.sha256(upload.read_bytes()).hexdigest()
    assert (log / row["path"]).read_bytes() == upload.read_bytes()
    assert 0 <= row["latency_s"] <= time.time() - before and answer.version == "2"
