<?php
// pinba_flush with nothing set by hand: both packets carry the request's
// own names (script name, server name, hostname).
$a = pinba_timer_start(["step" => "a"]);
usleep(10000);
pinba_timer_stop($a);
pinba_flush();
$b = pinba_timer_start(["step" => "b"]);
usleep(10000);
pinba_timer_stop($b);
