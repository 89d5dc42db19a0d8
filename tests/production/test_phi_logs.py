"""Member ids and dates of birth never reach a log: after a draft conversation and messages full of
member-id and birth-date-like strings (on every path: answered, refused, failing), every log of the
cluster - both Rasa replicas, both action servers, nginx - is searched for them.

rasa-2 and actions-2 run with --debug (they log every message, slot and event), so the search is not
vacuous: the test also finds the masked forms there.
"""

from __future__ import annotations

import json
import random
from datetime import date

import requests

from tests.production.cluster import add_figures
from tests.production.conversations import Talk, draft_script

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def test_member_ids_and_birth_dates_are_masked_in_every_log(live):
    rng = random.Random()
    ids = [
        f"XYZ{rng.randint(10**8, 10**9 - 1)}",
        f"QRS{rng.randint(10**8, 10**9 - 1)}",
        f"98{rng.randint(10**9, 10**10 - 1)}",
        f"H{rng.randint(10**8, 10**9 - 1)}",
    ]
    births = [date(rng.randint(1940, 1995), rng.randint(1, 12), rng.randint(1, 28)) for _ in range(4)]
    slash, iso, named, dashed = births
    secrets = {
        *ids,
        *(i[:9] for i in ids),  # a leading chunk: no partial leak either
        f"{slash.month}/{slash.day}/{slash.year}",
        iso.isoformat(),
        f"{MONTHS[named.month - 1]} {named.day}, {named.year}",
        f"{dashed.month:02}-{dashed.day:02}-{dashed.year}",
    }
    messages = [
        f"member id {ids[0]} dob {slash.month}/{slash.day}/{slash.year}",
        f"patient DOB: {iso.isoformat()}, subscriber # {ids[2]}",
        f"the member was born {MONTHS[named.month - 1]} {named.day}, {named.year}",
        ids[1],
        f"{dashed.month:02}-{dashed.day:02}-{dashed.year}",
        f"does 27447 need PA for member {ids[3]}?",
    ]
    debug_base = live.replica_url(2)
    for base in (debug_base, live.front):
        for message in messages:
            assert live.say(base, live.sender("phi"), message).status == 200
    # Refused requests carry them too (too long, bad sender, broken JSON).
    url = f"{debug_base}/webhooks/rest/webhook"
    assert requests.post(url, json={"sender": "phi x", "message": messages[0]}, timeout=30).status_code == 400
    assert requests.post(url, json={"sender": "phi", "message": messages[1] * 200}, timeout=30).status_code == 413
    assert requests.post(url, data=("{" + json.dumps(messages[2])).encode(), timeout=30).status_code == 400
    # A draft conversation on the debug replica, with a failure in the middle (the knowledge database away).
    member, birth = f"XYZ{rng.randint(10**8, 10**9 - 1)}", date(rng.randint(1940, 1995), 5, 17)
    secrets |= {member, member[:9], f"{birth.month}/{birth.day}/{birth.year}", birth.isoformat()}
    dos = date.fromordinal(date.today().toordinal() + 21).strftime("%m/%d/%Y")
    talk = Talk("phi-draft-" + live.sender("x"), "draft", draft_script(member, f"5/17/{birth.year}", dos))
    talk.play(live.say, debug_base, 1)
    live.proxies["kb"].cut()
    try:
        assert live.say(debug_base, talk.sender, f"member id {member}, dob 5/17/{birth.year}").status == 200
    finally:
        live.proxies["kb"].restore()
    talk.play(live.say, debug_base)
    assert not talk.problems, talk.problems

    logs = live.logs()
    leaks = sorted(
        {f"{path.name}: {secret}" for path, content in logs.items() for secret in secrets if secret in content}
    )
    debug_log = logs.get(live.workdir / "rasa-2.log", "")
    masked_seen = [i for i in ids + [member] if f"****{i[-4:]}" in debug_log]
    add_figures(
        phi_log_files_searched=len(logs),
        phi_log_bytes_searched=sum(len(c) for c in logs.values()),
        phi_values_searched=len(secrets),
        phi_leaks=len(leaks),
        phi_masked_forms_in_debug_log=len(masked_seen),
    )
    assert not leaks, leaks
    if live.debug_replica:
        assert masked_seen, "the debug replica logged none of the messages: the search proves nothing"
