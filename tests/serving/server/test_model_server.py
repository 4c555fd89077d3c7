"""The server's flags parse like tensorflow_model_server's."""
import pytest

from serving.server import model_server


def test_flags_parse_like_the_binary():
    args = model_server.build_parser().parse_args([
        "--port=9000", "--rest_api_port", "9001", "--model_name=m", "--model_base_path=/p",
        "--enable_batching", "--enable_model_warmup=false", "--file_system_poll_wait_seconds=0"])
    assert (args.port, args.rest_api_port, args.model_name, args.model_base_path) == (9000, 9001, "m", "/p")
    assert args.enable_batching is True and args.enable_model_warmup is False
    assert args.bind_address == "127.0.0.1"
    with pytest.raises(SystemExit):
        model_server.build_parser().parse_args(["--no_such_flag=1"])
    assert model_server.parse_grpc_channel_arguments("grpc.max_receive_message_length=10,a=b") == [
        ("grpc.max_receive_message_length", 10), ("a", "b")]
    config = model_server.build_config(model_server.build_parser().parse_args(
        ["--model_name=m", "--model_base_path=/models/m"]))
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [("m", "/models/m")]
