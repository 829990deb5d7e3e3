"""Iaso's phone load test, rewritten for Hygeia (bench/phones.sh runs it against a release build).

Each simulated phone waits 1-3 s between tasks. One task in ten downloads the setup a phone
syncs (the app, the org-unit types, the forms and their versions, every page of the offline
tree); nine in ten upload: one org unit created on the phone, then 1-10 submissions, each as
Iaso's two calls (the JSON metadata, then the XML). Load on 127.0.0.1 only.

Settings come from the environment: HYGEIA_APP_ID, HYGEIA_USERNAME, HYGEIA_PASSWORD,
HYGEIA_FORM (the form's id), HYGEIA_TEMPLATE (a submission's XML, with {uuid}).
"""

import json
import os
import random
import time
import uuid

from locust import FastHttpUser, between, events, task

APP_ID = os.environ.get("HYGEIA_APP_ID", "bench.hygeia")
FORM = int(os.environ.get("HYGEIA_FORM", "1"))
TEMPLATE = open(os.environ.get("HYGEIA_TEMPLATE", "submission.xml"), encoding="utf-8").read()
SETUP = {}
BOUNDARY = "hygeia-phone-5e2a"


@events.test_start.add_listener
def log_in_once(environment, **_kwargs):
    """One login for all phones of this process: the test measures syncing, not password hashing."""
    import urllib.request

    base = environment.host.rstrip("/")
    body = json.dumps({"username": os.environ["HYGEIA_USERNAME"], "password": os.environ["HYGEIA_PASSWORD"]})
    request = urllib.request.Request(f"{base}/api/token/", body.encode(), {"Content-Type": "application/json"})
    token = json.load(urllib.request.urlopen(request))["access"]
    SETUP["auth"] = {"Authorization": f"Bearer {token}"}
    tree = urllib.request.Request(f"{base}/api/mobile/orgunits/?app_id={APP_ID}&limit=25000&page=1", headers=SETUP["auth"])
    units = json.load(urllib.request.urlopen(tree))["orgUnits"]
    deepest = max(u["org_unit_type_id"] for u in units)
    # New units hang under the units one level above the facilities.
    SETUP["parents"] = [u for u in units if u["org_unit_type_id"] == deepest - 1] or units
    SETUP["leaf_type"] = deepest
    SETUP["units"] = units


class Phone(FastHttpUser):
    wait_time = between(1, 3)

    @task(1)
    def download_setup(self):
        auth = SETUP["auth"]
        self.client.get(f"/api/apps/{APP_ID}/", name="/api/apps/[app_id]/")
        self.client.get(f"/api/orgunittypes/?app_id={APP_ID}", headers=auth, name="/api/orgunittypes/")
        self.client.get(
            f"/api/mobile/forms/?app_id={APP_ID}&fields=id,name,form_id,org_unit_type_ids,period_type,"
            "single_per_period,periods_before_allowed,periods_after_allowed,latest_form_version,label_keys,"
            "possible_fields,predefined_filters,has_attachments,created_at,updated_at,reference_form_of_org_unit_types",
            headers=auth,
            name="/api/mobile/forms/",
        )
        self.client.get(
            f"/api/formversions/?app_id={APP_ID}&fields=id,version_id,form_id,form_name,file,mapped,"
            "start_period,end_period,created_at,updated_at,possible_fields",
            headers=auth,
            name="/api/formversions/",
        )
        page = 1
        while True:
            with self.client.get(
                f"/api/mobile/orgunits/?app_id={APP_ID}&limit=25000&page={page}",
                headers=auth,
                name="/api/mobile/orgunits/",
                catch_response=True,
            ) as reply:
                body = reply.json() if reply.status_code == 200 else {}
                if not body.get("has_next"):
                    break
            page += 1

    @task(9)
    def upload(self):
        auth = SETUP["auth"]
        parent = random.choice(SETUP["parents"])
        unit = {
            "id": str(uuid.uuid4()),
            "name": f"Poste de santé {random.randrange(1_000_000)}",
            "org_unit_type_id": SETUP["leaf_type"],
            "parent_id": parent["id"],
            "created_at": time.time(),
            "latitude": 12.0 + random.random(),
            "longitude": -3.0 + random.random(),
            "altitude": 300.0,
        }
        self.client.post(
            f"/api/mobile/orgunits/?app_id={APP_ID}", json=[unit], headers=auth, name="/api/mobile/orgunits/ (POST)"
        )
        for _ in range(random.randint(1, 10)):
            instance = str(uuid.uuid4())
            file_name = f"{instance}.xml"
            metadata = [{
                "id": instance,
                "file": f"/storage/emulated/0/odk/instances/{instance}/{file_name}",
                "name": "Child Programme",
                "formId": FORM,
                "orgUnitId": random.choice(SETUP["units"])["id"],
                "created_at": time.time(),
                "updated_at": time.time(),
                "latitude": 12.1,
                "longitude": -3.6,
                "altitude": 300,
                "accuracy": 5,
            }]
            self.client.post(f"/api/instances/?app_id={APP_ID}", json=metadata, headers=auth, name="/api/instances/")
            xml = TEMPLATE.replace("{uuid}", instance)
            body = (
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"xml_submission_file\"; "
                f"filename=\"{file_name}\"\r\nContent-Type: text/xml\r\n\r\n{xml}\r\n--{BOUNDARY}--\r\n"
            ).encode()
            with self.client.post(
                f"/sync/form_upload/?app_id={APP_ID}",
                data=body,
                headers={**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                name="/sync/form_upload/",
                catch_response=True,
            ) as reply:
                if reply.status_code != 201:
                    reply.failure(f"HTTP {reply.status_code}: {reply.text[:200]}")
