"""The generated nginx config for each routing shape, checked by the real `nginx -t`."""
import os

import pytest

from serving.delivery import nginx

MODEL = "flight"
DEPLOYMENTS = {"blue": {"rest": "127.0.0.1:8501", "grpc": "127.0.0.1:8500"},
               "green": {"rest": "127.0.0.1:8601", "grpc": "127.0.0.1:8600"}}


def routing(prefix, request_log=None, **stages):
    proxy = {"listen": "127.0.0.1:18080", "prefix": prefix, **({"request_log": request_log} if request_log else {})}
    return {"proxy": proxy, "deployments": DEPLOYMENTS, "stable": {"version": 1, "deployment": "blue"}, **stages}


@pytest.mark.parametrize("stages, present, absent", [
    ({}, ["proxy_pass http://$stage_upstream/v1/models/flight/versions/$stage_version$verb;",
          "map $stage $stage_version { stable 1; }"], ["split_clients", "mirror"]),
    ({"canary": {"version": 2, "deployment": "green", "percent": 12.5}},
     ['split_clients "$canary_key" $stage { 12.5% canary; * stable; }',
      "map $stage $stage_upstream { stable deployment_blue; canary deployment_green; }",
      "location ~ ^/v1/models/flight/labels/canary"], ["mirror"]),
    ({"shadow": {"version": 3, "deployment": "green"}},
     ["mirror /_proxy/shadow;", "proxy_pass http://deployment_green$shadow_uri;",
      "/v1/models/flight/versions/3$1"], ["split_clients"]),
    ({"request_log": "127.0.0.1:18090", "canary": {"version": 2, "deployment": "green", "percent": 10},
      "shadow": {"version": 3, "deployment": "green"}},
     ["mirror /_proxy/shadow; mirror /_proxy/request_log; add_header", "proxy_pass http://127.0.0.1:18090/log;",
      "proxy_set_header X-Model-Route $log_route;", '"~^/v1/models/flight/labels/canary" "canary v2 green";'], []),
])
def test_each_routing_renders_a_config_nginx_accepts(tmp_path, stages, present, absent):
    prefix = str(tmp_path)
    text = nginx.render(routing(prefix, **stages), MODEL, prefix)
    for needle in present:
        assert needle in text
    for needle in absent:
        assert needle not in text
    path = nginx.write_checked(prefix, text)
    assert open(path).read() == text and nginx.config_id(text) in text
    assert nginx.config_id(text) != nginx.config_id(nginx.render(routing(prefix), MODEL, prefix)) or not stages


def test_a_refused_config_leaves_the_previous_one(tmp_path):
    prefix = str(tmp_path)
    good = open(nginx.write_checked(prefix, nginx.render(routing(prefix), MODEL, prefix))).read()
    bad = routing(prefix)
    bad["proxy"]["listen"] = "127.0.0.1:99999"
    with pytest.raises(nginx.NginxError, match="(?s)nginx -t refused .*invalid port"):
        nginx.write_checked(prefix, nginx.render(bad, MODEL, prefix))
    assert open(os.path.join(prefix, nginx.CONFIG_NAME)).read() == good
    assert nginx.running_pid(prefix) is None
    with pytest.raises(nginx.NginxError, match="no nginx running"):
        nginx.reload(prefix, "127.0.0.1:18080")
