<?php
// Every field the extension lets a script set by hand. 1.1.2 has no
// pinba_status_set: the status is the HTTP response code.
pinba_hostname_set("web-7");
pinba_server_name_set("shop.example");
pinba_script_name_set("/checkout");
pinba_schema_set("https");
pinba_request_time_set(0.75);
http_response_code(404);
$t = pinba_timer_start(["group" => "db"]);
usleep(10000);
pinba_timer_stop($t);
