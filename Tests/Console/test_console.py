"""The operator console in a real browser: headless Chromium + Selenium against a live `baton up`.

Run by scripts/console-test.sh, which starts PostgreSQL and the server and sets CONSOLE_URL, CONSOLE_*_TOKEN,
CONSOLE_ARTIFACTS, DATABASE_URL and (with --screenshots) CONSOLE_SCREENSHOTS. Every wait is on DOM or API state
(WebDriverWait / polling with a generous failure bound), never a sleep. A failing test leaves a screenshot and the
page source in .build-ui/failures/.
"""

import functools
import hashlib
import json
import os
import pathlib
import subprocess
import time
import unittest
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["CONSOLE_URL"]
TOKENS = {role: os.environ[f"CONSOLE_{role.upper()}_TOKEN"] for role in ("admin", "operator", "viewer")}
ARTIFACTS = pathlib.Path(os.environ["CONSOLE_ARTIFACTS"])
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS") or ""
ROOT = pathlib.Path(__file__).resolve().parents[2]
FAILURES = ROOT / ".build-ui" / "failures"
WAIT = 90  # seconds: only a failure bound on a loaded machine

XSS_SCRIPT = "<script>window.__xss = 'script'</script>"
XSS_IMG = "\"><img src=x onerror=\"window.__xss = 'img'\">"
XSS = XSS_SCRIPT + XSS_IMG


def api(method, path, token=TOKENS["admin"], body=None):
    """(status, JSON body or None) of one API call."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, data=data, method=method, headers={"Authorization": f"Bearer {token}"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, (json.loads(text) if text else None)


def psql(sql, **values):
    """Runs SQL with values bound as psql variables (:'name' quotes them); returns the unaligned output."""
    args = ["psql", os.environ["DATABASE_URL"], "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]
    for name, value in values.items():
        args += ["-v", f"{name}={value}"]
    return subprocess.run(args, input=sql, text=True, capture_output=True, check=True).stdout.strip()


def create_run(workflow, inputs, feature=None):
    feature = feature or f"f-{uuid.uuid4().hex[:8]}"
    status, body = api("POST", "/api/v1/runs", TOKENS["operator"], {"workflow": workflow, "repository": "acme/console", "featureKey": feature, "inputs": inputs})
    assert status == 202, (status, body)
    return body["id"]


def wait_run(run_id, statuses):
    """Follows the run's events with the API's long poll until its status is one of `statuses`."""
    after = 0
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        _, run = api("GET", f"/api/v1/runs/{run_id}")
        if run["status"] in statuses:
            return run
        _, page = api("GET", f"/api/v1/runs/{run_id}/events?after={after}&wait=5")
        after = page["nextAfter"]
    raise AssertionError(f"run {run_id} did not reach {statuses}")


def record_artifact(run_id, step, name, content, content_type, kind="log"):
    """Records an artifact as a worker does: the file under the artifacts root and its row."""
    relative = f"spec_workflows/{run_id}/{name}"
    path = ARTIFACTS / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode()
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    artifact_id = psql("INSERT INTO baton.artifacts (run_id, step, kind, relative_path, content_type, size_bytes, sha256) "
                       "VALUES (:'run'::uuid, :'step', :'kind', :'path', :'type', :'size'::bigint, :'sha') RETURNING id;",
                       run=run_id, step=step, kind=kind, path=relative, type=content_type, size=len(data), sha=sha)
    return artifact_id.splitlines()[0], sha


def captures_failures(test):
    """Saves a screenshot and the page source under .build-ui/failures/ when the test fails."""
    @functools.wraps(test)
    def wrapper(self, *args, **kwargs):
        try:
            return test(self, *args, **kwargs)
        except BaseException:
            FAILURES.mkdir(parents=True, exist_ok=True)
            try:
                self.driver.save_screenshot(str(FAILURES / f"{test.__name__}.png"))
                (FAILURES / f"{test.__name__}.html").write_text(self.driver.page_source)
                print(f"\nfailure capture: {FAILURES / test.__name__}.png/.html")
            except Exception as capture_error:  # the original failure matters more
                print(f"failure capture failed: {capture_error}")
            raise
    return wrapper


class ConsoleTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--force-device-scale-factor=1"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        cls.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()

    def setUp(self):
        self.driver.set_window_size(1280, 1000)

    # ------------------------------------------------------------------------------------------ helpers

    def wait(self, condition, timeout=WAIT):
        # The pages re-render their tables on every refresh: an element found a moment ago may be gone by the time
        # it is read, and the condition is simply tried again.
        return WebDriverWait(self.driver, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition)

    def css(self, selector):
        return self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, selector)))

    def visible(self, selector):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, selector)))

    def text_in(self, selector, text):
        return self.wait(EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text))

    def sign_in(self, role):
        driver = self.driver
        driver.get(URL + "/")
        driver.execute_script("sessionStorage.clear()")
        driver.get(URL + "/#/sign-in")
        driver.refresh()
        token = self.visible("#token")
        token.send_keys(TOKENS[role] if role in TOKENS else role)
        driver.find_element(By.CSS_SELECTOR, "form.sign-in button[type=submit]").click()
        self.visible("#nav")
        self.text_in("#identity-name", role if role in TOKENS else "")

    def go(self, fragment):
        self.driver.execute_script("location.hash = arguments[0]", fragment)

    def confirm_dialog(self):
        self.visible("dialog[open] #dialog-confirm").click()
        self.wait(lambda d: not d.execute_script("return document.getElementById('dialog').open"))

    def shot(self, name):
        if SCREENSHOTS:
            pathlib.Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.driver.execute_script("window.scrollTo(0, 0)")
            self.driver.save_screenshot(os.path.join(SCREENSHOTS, f"console-{name}.png"))

    def header_status(self, status):
        # Badges are upper-cased by CSS, so the class says the status.
        self.css(f".page-head h1 .badge.status-{status}")

    # ------------------------------------------------------------------------------------------ tests

    def test_pages_carry_the_security_headers_and_no_cookie(self):
        for path in ("/", "/console/app.js", "/console/app.css"):
            with urllib.request.urlopen(URL + path, timeout=30) as response:
                headers = response.headers
                policy = headers["Content-Security-Policy"]
                self.assertIn("script-src 'self'", policy)
                self.assertIn("default-src 'none'", policy)
                self.assertNotIn("unsafe-inline", policy)
                self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
                self.assertIsNone(headers["Set-Cookie"])
        _, body = api("GET", "/api/v1/me", TOKENS["viewer"])
        self.assertEqual(body["role"], "viewer")
        self.assertFalse(body["canOperate"])

    @captures_failures
    def test_sign_in_keeps_the_token_in_session_storage_only_and_sign_out_forgets_it(self):
        driver = self.driver
        driver.get(URL + "/")
        driver.execute_script("sessionStorage.clear()")
        driver.refresh()
        self.visible("#token").send_keys("baton_not-a-real-token")
        driver.find_element(By.CSS_SELECTOR, "form.sign-in button[type=submit]").click()
        self.text_in("#sign-in-message", "Sign-in failed")
        self.shot("sign-in")
        self.sign_in("operator")
        self.assertEqual(driver.execute_script("return sessionStorage.getItem('baton.console.token')"), TOKENS["operator"])
        self.assertEqual(driver.get_cookies(), [])
        self.assertNotIn(TOKENS["operator"], driver.current_url)
        self.assertIsNone(driver.execute_script("return localStorage.getItem('baton.console.token')"))
        driver.find_element(By.ID, "sign-out").click()
        self.visible("#token")
        self.assertIsNone(driver.execute_script("return sessionStorage.getItem('baton.console.token')"))

    @captures_failures
    def test_a_refused_token_sends_the_user_back_to_sign_in(self):
        status, made = api("POST", "/api/v1/tokens", body={"name": f"short-lived-{uuid.uuid4().hex[:6]}", "role": "viewer"})
        self.assertEqual(status, 201, made)
        self.sign_in(made["token"])
        self.css("table.runs, .state.empty")
        status, _ = api("DELETE", f"/api/v1/tokens/{made['id']}")
        self.assertIn(status, (200, 204))
        self.go("#/workers")
        self.text_in("main", "Sign in again")
        self.visible("#token")

    @captures_failures
    def test_a_new_run_streams_its_events_live_and_cancels_from_the_console(self):
        self.sign_in("operator")
        feature = f"live-{uuid.uuid4().hex[:6]}"
        self.visible(".new-run-box > summary").click()
        workflow = self.visible("#new-workflow")
        workflow.clear()
        workflow.send_keys("console-slow")
        self.driver.find_element(By.ID, "new-repository").send_keys("acme/console")
        self.driver.find_element(By.ID, "new-featureKey").send_keys(feature)
        self.driver.find_element(By.ID, "new-inputs").send_keys('{"sleepMs": 1800000}')
        self.driver.find_element(By.CSS_SELECTOR, ".new-run button[type=submit]").click()
        self.text_in(".page-head h1", feature)
        # Marks this page: a reload would lose it.
        self.driver.execute_script("window.__samePage = 'yes'")
        self.text_in("#stream-state", "live")
        self.css('#events [data-kind="step_started"][data-step="wait"]')
        self.css('[data-step="wait"] .badge.status-running')
        run_id = self.driver.current_url.rsplit("/", 1)[-1]
        self.assertEqual(api("GET", f"/api/v1/runs/{run_id}")[1]["status"], "running")
        self.shot("run-live")
        self.visible("#cancel-run").click()
        self.text_in("#dialog-body", "stops it at its next heartbeat")
        self.confirm_dialog()
        # The worker stops the step at its next heartbeat; its events arrive on the open stream.
        self.css('#events [data-kind="run_cancelled"]')
        self.header_status("cancelled")
        self.assertEqual(self.driver.execute_script("return window.__samePage"), "yes")
        self.text_in("#stream-state", "ended")

    @captures_failures
    def test_a_failed_run_retried_from_the_console_succeeds_and_its_artifacts_open(self):
        run_id = create_run("console", {"fail": {"times": 1, "retryable": False}}, feature="001-albums")
        wait_run(run_id, {"failed"})
        diff = "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1,2 +1,2 @@\n # Albums\n-TODO\n+List albums by year.\n"
        diff_id, diff_sha = record_artifact(run_id, "work", "changes.diff", diff, "text/x-diff", kind="diff")
        record_artifact(run_id, "work", "agent.jsonl", '{"type":"thread.started"}\n{"type":"item.completed","item":{"type":"agent_message","text":"done"}}\n',
                        "application/x-ndjson", kind="agent_log")
        self.sign_in("operator")
        self.go(f"#/runs/{run_id}")
        self.header_status("failed")
        self.text_in(".notice.next", "retry")
        self.text_in('[data-step="work"]', "failed_on_purpose")
        self.css(f'[data-artifact="{diff_id}"] button').click()
        self.text_in("#artifact-viewer pre", "+List albums by year.")
        self.text_in("#artifact-viewer", diff_sha)
        self.css("#artifact-viewer .line.add")
        self.shot("artifact")
        self.visible("#retry-run").click()
        self.text_in("#dialog-body", "same frozen input")
        self.visible("#retry-notes").send_keys("fixed upstream")
        self.confirm_dialog()
        self.header_status("succeeded")
        self.css('[data-step="work"] tr[data-attempt="2"] .status-succeeded')
        self.css('[data-step="work"] tr[data-attempt="1"] .status-failed')
        self.css('#events [data-kind="run_retried"]')
        self.css('#events [data-kind="run_succeeded"]')
        self.assertEqual(api("GET", f"/api/v1/runs/{run_id}")[1]["status"], "succeeded")
        self.driver.execute_script("document.getElementById('artifact-viewer').replaceChildren()")
        self.shot("run")
        self.driver.set_window_size(390, 900)
        self.go(f"#/runs/{run_id}")
        self.header_status("succeeded")
        self.shot("mobile-run")

    @captures_failures
    def test_a_dead_letter_is_triaged_dry_run_and_replayed(self):
        run_id = create_run("console", {"fail": {"times": 1, "code": "upstream_down"}})
        wait_run(run_id, {"failed"})
        self.sign_in("operator")
        self.go(f"#/dead-letters?runId={run_id}")
        row = self.css("[data-dead-letter]")
        letter = row.get_attribute("data-dead-letter")
        self.text_in(f'[data-dead-letter="{letter}"]', "upstream_down")
        self.css(f'[data-dead-letter="{letter}"] button[aria-label="Triage dead letter {letter}"]').click()
        Select(self.visible("#triage-status")).select_by_value("manual_replay")
        self.driver.find_element(By.ID, "triage-notes").send_keys("upstream is back; replay")
        self.confirm_dialog()
        self.css(f'[data-dead-letter="{letter}"] .badge.status-manual_replay')
        self.text_in(f'[data-dead-letter="{letter}"]', "upstream is back")
        self.css(f'button[aria-label="Dry-run replay of dead letter {letter}"]').click()
        self.text_in("#dry-run-title", "1 would be replayed")
        self.text_in(f'[data-replay-item="{letter}"]', "would replay")
        self.assertEqual(api("GET", f"/api/v1/dead-letters/{letter}")[1].get("replayedAt"), None)
        self.shot("dead-letters")
        self.visible("#replay-confirm").click()
        self.confirm_dialog()
        self.text_in("#replay-summary", "1 of 1 run finished")
        self.css(f'[data-replay-item="{letter}"] .status-succeeded')
        self.assertEqual(api("GET", f"/api/v1/runs/{run_id}")[1]["status"], "succeeded")
        self.assertIsNotNone(api("GET", f"/api/v1/dead-letters/{letter}")[1].get("replayedAt"))

    @captures_failures
    def test_a_viewer_finds_no_control_that_changes_anything(self):
        failed = create_run("console", {"fail": {"times": 1, "retryable": False}})
        lettered = create_run("console", {"fail": {"times": 1}})
        wait_run(failed, {"failed"})
        wait_run(lettered, {"failed"})
        self.sign_in("viewer")
        pages = [("#/runs", "table.runs"), (f"#/runs/{failed}", '[data-step="work"] .status-failed'),
                 (f"#/dead-letters?runId={lettered}", "[data-dead-letter]"), ("#/workers", "[data-worker]"), ("#/activity", "#outcomes-title")]
        for fragment, ready in pages:
            self.go(fragment)
            self.css(ready)
            self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "[data-mutates]"), [], fragment)
            labels = [b.text.lower() for b in self.driver.find_elements(By.CSS_SELECTOR, "main button, main summary")]
            for word in ("retry", "restart", "cancel run", "triage", "replay", "new run", "start run"):
                self.assertFalse(any(word in label for label in labels), f"{fragment}: {labels}")
        # The server enforces it anyway.
        status, body = api("POST", f"/api/v1/runs/{failed}/retry", TOKENS["viewer"], {})
        self.assertEqual(status, 403, body)

    @captures_failures
    def test_values_a_run_or_worker_controls_are_shown_as_text_and_never_run(self):
        run_id = create_run("console", {"fail": {"times": 1, "retryable": False, "code": XSS_IMG}}, feature=f"xss-{uuid.uuid4().hex[:6]}")
        wait_run(run_id, {"failed"})
        # What a worker (or a database-side tool) could write: feature key, error text, an event, artifacts.
        psql("UPDATE baton.runs SET feature_key = :'v', error_message = :'v' WHERE id = :'run'::uuid;"
             "UPDATE baton.step_attempts SET error_message = :'v' WHERE run_id = :'run'::uuid;"
             "INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload) "
             "VALUES (:'run'::uuid, 'work', 1, 'info', 'agent_progress', :'v', jsonb_build_object('text', :'v'));",
             v=XSS, run=run_id)
        text_id, _ = record_artifact(run_id, "work", "notes.txt", XSS + "\n", "text/plain")
        html_id, _ = record_artifact(run_id, "work", "page.html", f"<html><body>{XSS}</body></html>", "text/html")
        self.sign_in("operator")
        driver = self.driver
        driver.execute_script("window.__violations = []; document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective));")
        self.go(f"#/runs?q={run_id}")
        self.text_in("table.runs .run-link", XSS_SCRIPT)
        self.go(f"#/runs/{run_id}")
        self.text_in(".page-head h1", XSS)
        self.text_in(".notice.error", XSS)
        self.text_in('[data-step="work"] .error-cell', XSS)
        self.text_in('#events [data-kind="agent_progress"] .event-message', XSS)
        self.css(f'[data-artifact="{text_id}"] button').click()
        self.text_in("#artifact-viewer pre", XSS)
        self.css(f'[data-artifact="{html_id}"] button').click()
        self.text_in("#artifact-viewer", "not shown inline")
        self.go(f"#/dead-letters?runId={run_id}")
        self.css("main .state.empty, [data-dead-letter]")
        self.go(f"#/runs/{run_id}")
        self.text_in('#events [data-kind="agent_progress"] .event-message', XSS)
        # Nothing ran, nothing was even parsed as markup, and the policy had nothing to block.
        self.assertIsNone(driver.execute_script("return window.__xss"))
        self.assertEqual(driver.execute_script("return document.querySelectorAll('main img, main script, main iframe, main svg:not(.chart)').length"), 0)
        self.assertEqual(driver.execute_script("return window.__violations"), [])
        with self.assertRaises(NoAlertPresentException):
            driver.switch_to.alert.text

    @captures_failures
    def test_a_queue_is_paused_and_resumed_from_the_queue_health_table(self):
        reason = f"credential rotation {uuid.uuid4().hex[:6]}"
        self.sign_in("operator")
        self.go("#/workers")
        try:
            self.css('[data-queue="default"] button[data-action="pause"]').click()
            self.visible("#queue-reason").send_keys(reason)
            self.confirm_dialog()
            self.css('[data-queue="default"] .badge.status-paused')
            self.text_in('[data-queue="default"]', reason)
            # Enqueue is still accepted; the run waits as ready work in the paused queue's row.
            waiting = create_run("console", {"fail": {"times": 0}})
            self.wait(lambda d: d.find_element(By.CSS_SELECTOR, '[data-queue="default"] td[data-label="Ready"]').text != "0")
            self.assertEqual(api("GET", f"/api/v1/runs/{waiting}")[1]["status"], "queued")
            self.shot("queues-paused")
            self.css('[data-queue="default"] button[data-action="resume"]').click()
            self.visible("#queue-reason").send_keys("rotation done")
            self.confirm_dialog()
            self.css('[data-queue="default"] button[data-action="pause"]')
            wait_run(waiting, {"succeeded"})
        finally:
            api("POST", "/api/v1/queues/default/resume", TOKENS["operator"], {"reason": "test cleanup"})
        events = api("GET", "/api/v1/queue-events?queue=default&limit=1000")[1]["items"]
        paused = [e for e in events if e["kind"] == "queue_paused" and e["payload"].get("reason") == reason]
        self.assertEqual(len(paused), 1, events)
        self.assertEqual(paused[0]["payload"]["actor"], "token:console-operator")

    @captures_failures
    def test_workers_activity_lists_and_empty_states(self):
        ok = create_run("console", {"fail": {"times": 0}}, feature="002-playlists")
        wait_run(ok, {"succeeded"})
        self.sign_in("operator")
        self.go("#/workers")
        card = self.css("[data-worker]")
        self.assertIn("Capabilities", card.text)
        self.text_in("[data-worker]", "Fix:")  # codex, spec kit or github cannot be proved on a test machine
        self.css("[data-worker] .chip.bad")
        self.shot("workers")
        slow = create_run("console-slow", {"sleepMs": 1800000})
        try:
            self.go("#/activity")
            # The console samples /api/v1/stats every 5 s: runs finished after one sample show in the next one's rate.
            self.wait(lambda d: d.execute_script("return sampler.samples.length") >= 1)
            for _ in range(12):
                create_run("console", {"fail": {"times": 0}})
            self.wait(lambda d: d.execute_script(
                "const s = sampler.samples; return s.length >= 2 && s[s.length - 1].finished > s[s.length - 2].finished"))
            self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg.chart")) == 3)
            self.css("svg.chart rect.bar.status-succeeded")
            self.css("svg.chart path.line.series-0")
            # The outcomes chart refreshes every 15 s: wait until it counts the twelve runs (and the first one).
            self.wait(lambda d: d.execute_script(
                "const li = [...document.querySelectorAll('.chart-card.wide .legend li')].find(l => l.textContent.startsWith('succeeded:'));"
                "return li && parseInt(li.textContent.split(':')[1], 10) >= 13"))
            self.shot("activity")
        finally:
            api("POST", f"/api/v1/runs/{slow}/cancel", TOKENS["operator"])
        self.go("#/runs")
        self.css("table.runs")
        self.css('.count-chip[data-status="succeeded"] .count')
        self.shot("runs")
        self.go("#/runs?featureKey=no-such-feature")
        self.text_in("main", "No runs match these filters")
        self.go("#/runs?status=succeeded")
        self.css("table.runs")
        statuses = {e.text.lower() for e in self.driver.find_elements(By.CSS_SELECTOR, "table.runs td:first-child .badge")}
        self.assertEqual(statuses, {"succeeded"})
        self.driver.set_window_size(390, 900)
        self.go("#/runs")
        self.css("table.runs")
        self.shot("mobile-runs")
        width = self.driver.execute_script("return document.documentElement.scrollWidth")
        self.assertLessEqual(width, 390, "the runs page scrolls sideways at 390 px")


if __name__ == "__main__":
    unittest.main(verbosity=2)
