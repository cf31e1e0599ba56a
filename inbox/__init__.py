"""The reviewer's inbox: server-rendered pages where a signed-in reviewer decides runs."""
