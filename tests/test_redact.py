"""Secrets never reach the store: `mlnb.redact` rules, positive and negative."""
from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlnb import redact
from mlnb.redact import MASK, environment_secrets, is_sensitive_name, redact_text, redact_value

GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAq7BFUpkGp3+LQmlQ\nYx2eqBqvX8=\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize("name", [
    "api_key", "apikey", "API_KEY", "apiKey", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "private_key", "secret_key",
    "GITHUB_TOKEN", "token", "accessToken", "hf_token", "refresh_token", "client_secret", "SECRET", "db_password",
    "PASSWORD", "passwd", "DB_PWD", "credentials", "GOOGLE_APPLICATION_CREDENTIALS", "auth", "oauth_token",
    "authorization", "Authorization", "--api-key", "self.api_key", "passphrase", "DB_PASS", "smtp_pass", "PASS",
    "db_pw", "pw"])
def test_sensitive_names(name: str) -> None:
    assert is_sensitive_name(name)


@pytest.mark.parametrize("name", [
    "author", "authors", "authority", "XAUTHORITY", "tokenizer", "max_tokens", "tokens", "num_tokens", "pad_token",
    "eos_token", "pad_token_id", "token_ids", "key", "keys", "monkey", "sort_key", "label_key", "primary_key",
    "PWD", "OLDPWD", "secretary", "auth_type", "password_file", "token_url", "api_key_env", "keyboard", "PATH",
    "bypass", "compass", "first_pass", "forward_pass", "num_pass", "passes"])
def test_ordinary_names(name: str) -> None:
    assert not is_sensitive_name(name)


@pytest.mark.parametrize("code, expected", [
    ('API_KEY = "abc123secret"', 'API_KEY = "***"'),
    ("api_key: str = 'hello-world-1'", "api_key: str = '***'"),
    ('self.api_key = "abc"', 'self.api_key = "***"'),
    ('os.environ["OPENAI_API_KEY"] = "sk-abc"', 'os.environ["OPENAI_API_KEY"] = "***"'),
    ("os.environ['DB_PASSWORD'] = 'pw'", "os.environ['DB_PASSWORD'] = '***'"),
    ('os.environ.setdefault("HF_TOKEN", "hf_abc")', 'os.environ.setdefault("HF_TOKEN", "***")'),
    ('tok = os.getenv("HF_TOKEN", "hf_default")', 'tok = os.getenv("HF_TOKEN", "***")'),
    ('cfg = {"api_key": "v1", \'db_password\': \'v2\'}', 'cfg = {"api_key": "***", \'db_password\': \'***\'}'),
    ('{"API Key": "x1"}', '{"API Key": "***"}'),
    ('c = dict(api_key="v1", user="bob")', 'c = dict(api_key="***", user="bob")'),
    ('f(token="t0k", max_tokens=100)', 'f(token="***", max_tokens=100)'),
    ("def f(api_key: str = 'default-key'):", "def f(api_key: str = '***'):"),
    ('client_secret = b"abcd"', 'client_secret = b"***"'),
    ('password = "a\\"b"', 'password = "***"'),
    ("DB_PASSWORD=hunter2", "DB_PASSWORD=***"),
    ("DB_PASSWORD=hunter2\r\nX=1", "DB_PASSWORD=***\r\nX=1"),
    ("export GITHUB_TOKEN=abc-123", "export GITHUB_TOKEN=***"),
    ("%env OPENAI_API_KEY=sk-abc", "%env OPENAI_API_KEY=***"),
    ("password: s3cr3t!", "password: ***"),
    ("  - api-key: abc123", "  - api-key: ***"),
    ("secret_key = 'x' # keep", "secret_key = '***' # keep"),
    ("!python t.py --password hunter2 --token=abc123 --lr 0.1", "!python t.py --password *** --token=*** --lr 0.1"),
    ('run --api-key "a b c" --epochs 3', 'run --api-key "***" --epochs 3'),
    # a diff's added / removed lines
    ("+DB_PASSWORD=hunter2x", "+DB_PASSWORD=***"), ("-DB_PASSWORD=hunter2x", "-DB_PASSWORD=***"),
    ("+  api_token: abc123", "+  api_token: ***"), ('+API_KEY = "abc123"', '+API_KEY = "***"'),
    ('-API_KEY = "abc123"', '-API_KEY = "***"'), ("+export GITHUB_TOKEN=abc-123", "+export GITHUB_TOKEN=***"),
    # name=value inside a line: URL queries, DSNs, log lines, params
    ("GET https://h/v1?api_key=abc123def&page=2", "GET https://h/v1?api_key=***&page=2"),
    ("https://h/?a=1&token=zzz999yy#frag", "https://h/?a=1&token=***#frag"),
    ("host=db user=ml password=hunter2x sslmode=require", "host=db user=ml password=*** sslmode=require"),
    ("WARNING:root:retrying with password=Tr0ub4dor&3", "WARNING:root:retrying with password=***"),
    ("DB_PASSWORD=hunter2 # comment", "DB_PASSWORD=*** # comment"),
    ("f(api_key=abc123)", "f(api_key=***)"),
    ("url = 'https://h/q?api_key=k3y-value&x=1'", "url = 'https://h/q?api_key=***&x=1'"),
    # short names for passwords
    ('DB_PASS = "s3cretvalue"', 'DB_PASS = "***"'), ("DB_PASS=s3cret99", "DB_PASS=***"),
    ('pw = "abcdef12"', 'pw = "***"'),
])
def test_assignments_are_masked(code: str, expected: str) -> None:
    assert redact_text(code) == expected


@pytest.mark.parametrize("code", [
    'tokenizer = AutoTokenizer.from_pretrained("gpt2")', "max_tokens = 512", 'author = "Ada"', "key = df.columns[0]",
    "for key in d:", "password_field_width = 10", "secret_santa = compute()", 'tokenizer.pad_token = "<pad>"',
    'tok.add_special_tokens({"pad_token": "[PAD]"})', 'label_key = "label"', "token: str", "api_key = key",
    'api_key = os.environ["OPENAI_API_KEY"]', "    api_key: Optional[str] = None", 'if password != "abc":',
    'token == "abc"', 'password = ""', 'print(f"{key}: {value}")', 'cfg = {"auth_type": "oauth", "author": "me"}',
    'pwd = "/home/me"', 'monkey = "banana"', 'key = "price"', "The author is secretive.", "--no-auth --verbose",
    'text = "use the Bearer authentication scheme"', "model = f(token=tok)", "MAX_TOKENS=4096", "use_auth_token: true",
    "Authorization: the process of granting access",
    "f(api_key=key)", "f(token=tok, max_tokens=100)", 'f(api_key=os.environ["X"])', "if ok: pass", "compass=north123",
    'bypass = "abcdefgh1"', 'first_pass = "abcdefgh1"', 'url = f"https://h/?api_key={API_KEY}"',
    "https://h/?page=2&sort=asc", "a == b and c <= d", "x=1&y=2",
])
def test_ordinary_code_is_unchanged(code: str) -> None:
    assert redact_text(code) == code


@pytest.mark.parametrize("secret", [
    "AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A", GITHUB, "gho_" + "x" * 36,
    "github_pat_11ABCDEFG0123456789_abcdefghijkl",
    "glpat-abcdefghij0123456789", "xoxb-123456789012-1234567890123-abcdefghij", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "rk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    JWT,
])
def test_token_formats_anywhere(secret: str) -> None:
    text = f"INFO using {secret} for the request\n"
    out = redact_text(text)
    assert secret not in out and out == f"INFO using {MASK} for the request\n"
    assert redact_text(f"x={secret},") == f"x={MASK},"


@pytest.mark.parametrize("text", [
    "disk-0123456789abcdefghijkl", "task_live_0123456789abcdef", "scikit-learn and sk-learn", "AKIA123", "Asia/Tokyo",
    "ghp_short", "eyJhbGciOi only one part", "price: 100 USD", "https://example.com:8080/path?a=b@c",
])
def test_token_look_alikes_are_kept(text: str) -> None:
    assert redact_text(text) == text


def test_headers_urls_aws_secret() -> None:
    assert redact_text('curl -H "Authorization: Bearer abc.def123ghi"') == 'curl -H "Authorization: Bearer ***"'
    assert redact_text("Authorization: Basic dXNlcjpwYXNzd29yZA==") == "Authorization: Basic ***"
    assert redact_text("sent Bearer 0a1b2c3d4e5f6a7b") == "sent Bearer ***"
    assert redact_text("postgres://admin:s3cret@db:5432/x") == "postgres://admin:***@db:5432/x"
    assert redact_text("redis://:pw123456@cache") == "redis://:***@cache"
    assert redact_text('create_engine("mysql://root:toor@db/x")') == 'create_engine("mysql://root:***@db/x")'
    assert redact_text("https://github.com/owner/repo.git") == "https://github.com/owner/repo.git"
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert redact_text(f"aws_secret_access_key = {key}") == "aws_secret_access_key = ***"
    assert redact_text(f"{{'AWS_SECRET_ACCESS_KEY': '{key}'}}") == "{'AWS_SECRET_ACCESS_KEY': '***'}"


def test_pem_private_key_block() -> None:
    text = f"before\n{PEM}\nafter -----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----"
    out = redact_text(text)
    assert out == "before\n***\nafter -----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----"
    assert redact_text(repr(PEM)) == "'***'"  # as a variable repr, with escaped newlines
    assert redact_text("key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n(truncated") == "key:\n***"


def test_exact_values() -> None:
    secrets = {"Sup3rS3cret!", "hunter", "abc", "Sup3rS3cret!-longer"}
    text = "pw=Sup3rS3cret!-longer and Sup3rS3cret! but hunter and abc stay (too short)"
    assert redact_text(text, secrets) == "pw=*** and *** but hunter and abc stay (too short)"
    assert redact_text("a (x+y) b", ["(x+y) b."]) == "a (x+y) b"  # values are literal text, not regexes
    assert redact_text("a [x] b.c", ["[x] b.c"]) == "a [x] b.c"
    assert redact_text("a [x] b.cd", ["[x] b.cd"]) == "a ***"
    assert redact_text("nothing here", iter(["Sup3rS3cret!"])) == "nothing here"


def test_environment_secrets_picks_the_right_variables() -> None:
    environ = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/ada", "LANG": "en_US.UTF-8", "SHELL": "/bin/bash",
        "PWD": "/home/ada/project", "OLDPWD": "/home/ada", "XAUTHORITY": "/home/ada/.Xauthority",
        "OMP_NUM_THREADS": "8", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TOKEN": "1",
        "MLFLOW_AUTH_ENABLED": "true", "TERM": "xterm-256color",
        "OPENAI_API_KEY": "sk-proj-abcdefghijklmnopqrstuvwx", "DB_PASSWORD": "hunter", "JUPYTER_TOKEN": "0123abcd4567",
        "PIN_PASSWORD": "abc", "MY_GITHUB": GITHUB, "DATABASE_URL": "postgres://u:longpassw0rd@h/db",
    }
    assert environment_secrets(environ) == {"sk-proj-abcdefghijklmnopqrstuvwx", "hunter", "0123abcd4567", GITHUB,
                                            "longpassw0rd"}
    assert isinstance(environment_secrets({}), frozenset)
    assert isinstance(environment_secrets(), frozenset)  # the real environment


def test_redact_value() -> None:
    assert redact_value("s3cr3t-value", name="db_password") == MASK
    assert redact_value(1234, name="PIN_PASSWORD") == MASK
    assert redact_value(None, name="api_key") is None and redact_value(True, name="use_auth_token") is True
    assert redact_value("gpt2", name="tokenizer") == "gpt2"
    assert redact_value(f"token is {GITHUB}") == "token is ***"
    assert redact_value("hunter", extra_values={"hunter"}) == MASK  # equal to a short known secret
    assert redact_value(0.1, name="lr") == 0.1
    nested = {"db": {"password": "x", "host": "h"}, "lr": 0.1, "args": ("--token=abc123", 3), "items": ["API_KEY=abc1"]}
    assert redact_value(nested) == {"db": {"password": MASK, "host": "h"}, "lr": 0.1, "args": ("--token=***", 3),
                                    "items": ["API_KEY=***"]}


def test_realistic_cell() -> None:
    cell = f'''import os, openai, boto3
from transformers import AutoTokenizer
os.environ["OPENAI_API_KEY"] = "sk-proj-T3stK3yAbcdefghijklmnop"
HF_TOKEN = "hf_QwErTyUiOpAsDfGhJkLzXcVbNm"
s3 = boto3.client("s3", aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                  aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
engine = create_engine("postgresql://analyst:Pa55w0rd!@warehouse:5432/sales")
headers = {{"Authorization": "Bearer {JWT}"}}
tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased", token=HF_TOKEN)
max_tokens = 512
author = "Ada"
for key in config:
    print(key, config[key])
!git clone https://{GITHUB}@github.com/org/repo.git
'''
    out = redact_text(cell)
    for secret in ("T3stK3y", "hf_QwErTy", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "Pa55w0rd", JWT, GITHUB):
        assert secret not in out
    assert 'os.environ["OPENAI_API_KEY"] = "***"' in out and 'HF_TOKEN = "***"' in out
    assert 'aws_access_key_id="***"' in out and 'aws_secret_access_key="***"' in out
    assert '"postgresql://analyst:***@warehouse:5432/sales"' in out and "https://***@github.com" in out
    planted = ("sk-", "hf_", "AKIA", "wJal", "Pa55", JWT, GITHUB)
    kept = [line for line in cell.splitlines() if not any(s in line for s in planted)]
    assert kept == [line for line in out.splitlines() if MASK not in line]  # the rest of the code is intact
    assert redact_text(out) == out


SECRET_CHARS = string.ascii_letters + string.digits + "".join(c for c in string.punctuation if c not in "\"'\\")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(SECRET_CHARS, min_size=8, max_size=60), st.sampled_from(["", "import os\n", "x = 1\n"]))
def test_planted_secret_never_survives(secret: str, before: str) -> None:
    out = redact_text(f'{before}X_TOKEN = "{secret}"\nprint(X_TOKEN)\n')
    assert secret not in out
    assert 'X_TOKEN = "***"' in out


FRAGMENTS = ["API_KEY", "token", "password", " = ", "=", ": ", ":", '"', "'", "\n", " ", "--", "--token", "abc123XYZ",
             "?api_key=", "&token=", "&", "+DB_PASSWORD=", "DB_PASS", "pw=", "#", "(", ")", "+", "-",
             "ghp_", "A" * 20, "https://", "@", "u:", "Bearer ", "Authorization: ", "eyJabcdef.", "sk-", "x" * 20,
             "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "export ", '["', '"]', ",",
             "setdefault(", "\\", "AKIA", "0123456789ABCDEF", "aws_secret_access_key", "*", MASK, "f", "\r\n"]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=30).map("".join),
       st.lists(st.text(SECRET_CHARS, min_size=8, max_size=12), max_size=2))
def test_redaction_is_idempotent(text: str, extra: list[str]) -> None:
    once = redact_text(text, extra)
    assert redact_text(once, extra) == once


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS + ["_PROD", "str", "[", "]", "(", "-", "İ", "\t"]),
                          st.text(max_size=4)), max_size=25).map("".join))
def test_candidate_lines_match_the_full_scan(text: str) -> None:
    """Family 1 only runs on candidate lines; that must mask exactly what a scan of everything masks."""
    assert redact._redact_assignments(text) == redact._ASSIGNMENT.sub(redact._mask_assignment, text)


def test_environment_is_reread_when_it_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the secrets known before a variable is set (as `load_dotenv()` does after `%track start`)
    before = redact.known_secrets()
    assert "late-secret-9876" not in before
    # When it is set, then it is known, and masked in any text
    monkeypatch.setenv("LATE_API_TOKEN", "late-secret-9876")
    assert "late-secret-9876" in redact.known_secrets()
    assert redact_text("got late-secret-9876", redact.known_secrets()) == "got ***"
    # and nothing is recomputed while the environment stays the same
    assert redact.known_secrets() is redact.known_secrets()
    monkeypatch.setenv("LATE_API_TOKEN", "changed-secret-5432")
    assert "changed-secret-5432" in redact.known_secrets() and "late-secret-9876" not in redact.known_secrets()


def test_secrets_in_code_are_the_masked_values() -> None:
    code = ('API_KEY = "abc123456789"\nDB_PASS=hunterhunter2\nx = 1\npassword = "a\\"bcdefghij"\n'
            "url = 'https://h/?token=tok3n-value-1&x=2'\nshort = 1\ntoken = \"abc\"\nmax_tokens = 512\n")
    assert redact.secrets_in_code(code) == {"abc123456789", "hunterhunter2", 'a\\"bcdefghij', 'a"bcdefghij',
                                            "tok3n-value-1"}
    assert redact.secrets_in_code("nothing = 'here at all'") == set()


def test_learned_secrets_are_masked_everywhere() -> None:
    redact.learn_secrets(["printed-key-24680", 987654321012, "1", "true", 3, None, "abc", redact.MASK])
    known = redact.known_secrets()
    assert {"printed-key-24680", "987654321012"} <= known
    assert not {"1", "true", "3", "abc", redact.MASK} & known
    assert redact_text("key printed-key-24680, pin 987654321012", known) == "key ***, pin ***"
    assert redact_value("printed-key-24680", name="alias", extra_values=known) == MASK


def test_secret_values_of_parameters() -> None:
    params = {"api_token": 123456789, "lr": 0.1, "db": {"password": "x" * 9, "host": "h"}, "tokens": [1],
              "keys": ["not", "secret"], "use_auth_token": True}
    assert redact.secret_values(params) == {"123456789", "x" * 9}


def test_redaction_speed() -> None:
    """It sits on the capture path (off the cell's thread). ~8-25 MB/s measured on this text; the
    bound is loose because the test machines are shared: it catches a regex gone quadratic."""
    import time

    lines = ["Epoch 3/10 - loss: 0.2345 - acc: 0.91", "model.fit(X, y, epochs=5)", "max_tokens = 512",
             "https://example.com/api/v1/items?page=2&limit=50", "password_field = 3", "WARNING:root:retrying in 5 s",
             '  File "/usr/lib/python3.12/site-packages/x.py", line 12, in f', "tokenizer(text, token=tok)"]
    text = "\n".join(lines * 12000)  # ~3 MB
    redact_text(text, redact.known_secrets())
    started = time.perf_counter()
    out = redact_text(text, redact.known_secrets() | {"Sup3rS3cretValue!"})
    rate = len(text) / 1e6 / (time.perf_counter() - started)
    assert out == text
    assert rate > 2, f"{rate:.1f} MB/s"


def test_redact_notebook_covers_outputs_errors_svg_plotly_and_metadata() -> None:
    from mlnb.capture.redaction import redact_notebook

    png = "iVBORw0KGgoAKIAIOSFODNN7EXAMPLE"  # base64 of binary media is left as it is
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"db": {"password": "meta-pw-1234"}, "papermill": {
        "parameters": {"api_token": "param-tok-5678", "lr": 0.1}}}, "cells": [
        {"cell_type": "code", "metadata": {"note": "see ?api_key=cellmeta-999"}, "source": [
            'NB_SECRET = "literal-from-code-42"\n', "print(NB_SECRET)"], "outputs": [
            {"output_type": "stream", "name": "stdout", "text": ["literal-from-code-42\n"]},
            {"output_type": "error", "ename": "RuntimeError", "evalue": "refused literal-from-code-42",
             "traceback": ["\x1b[0;31mRuntimeError\x1b[0m: refused literal-from-code-42"]},
            {"output_type": "display_data", "metadata": {}, "data": {
                "image/svg+xml": "<svg><text>literal-from-code-42</text></svg>", "image/png": png,
                "application/vnd.plotly.v1+json": {"layout": {"title": {"text": "t literal-from-code-42"},
                                                              "mapbox": {"accesstoken": "pk.map-token-77"}}}}}]}]}
    out = redact_notebook(nb).decode()
    for secret in ("literal-from-code-42", "meta-pw-1234", "param-tok-5678", "cellmeta-999", "pk.map-token-77"):
        assert secret not in out, secret
    stored = __import__("json").loads(out)
    assert stored["cells"][0]["outputs"][2]["data"]["image/png"] == png
    assert stored["metadata"]["papermill"]["parameters"] == {"api_token": MASK, "lr": 0.1}
    assert stored["cells"][0]["source"] == 'NB_SECRET = "***"\nprint(NB_SECRET)'


def test_redact_diff_masks_added_removed_and_notebook_lines() -> None:
    from mlnb.capture.redaction import redact_diff

    diff = ("diff --git a/.env b/.env\n-DB_PASSWORD=old-pw-1234\n+DB_PASSWORD=new-pw-5678\n"
            "diff --git a/nb.ipynb b/nb.ipynb\n"
            '+    "API_KEY = \\"nb-literal-9012\\"\\n",\n'
            '+    "print(API_KEY)"\n'
            '+      "nb-literal-9012\\n"\n'
            '+   "outputs": [],\n')
    out = redact_diff(diff)
    for secret in ("old-pw-1234", "new-pw-5678", "nb-literal-9012"):
        assert secret not in out, secret
    assert '+    "API_KEY = \\"***\\"\\n",' in out and '+      "***\\n"' in out
    assert '+    "print(API_KEY)"\n' in out and out.endswith('+   "outputs": [],\n')  # the rest unchanged


def test_secrets_are_shared_through_a_private_file(tmp_path) -> None:
    import os
    import stat

    from mlnb.capture.redaction import read_shared_secrets, share_secrets

    redact.learn_secrets(["shared-secret-1357"])
    path = tmp_path / "secrets.json"
    share_secrets(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "shared-secret-1357" in read_shared_secrets(str(path))
    path.write_text("[torn")
    assert read_shared_secrets(str(path)) == [] and read_shared_secrets(str(tmp_path / "none")) == []


def test_a_secret_cut_by_an_output_cap_leaves_no_prefix() -> None:
    from mlnb.capture.records import _clean

    secret = "tok-" + "A1b2C3d4" * 4
    out = _clean("x" * 90 + " printed " + secret + " and more", frozenset({secret}), cap=110)
    assert "tok-" not in out and out == "x" * 90 + " printed [truncated]"
    assert _clean("short " + secret, frozenset({secret}), cap=110) == "short ***"
