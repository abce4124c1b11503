<?php
// Sent to two servers (pinba.server lists both): each gets the same datagram.
pinba_script_name_set("/two-servers");
pinba_tag_set("dc", "eu");
$t = pinba_timer_start(["group" => "db", "op" => "select"]);
usleep(20000);
pinba_timer_stop($t);
echo "ok";
