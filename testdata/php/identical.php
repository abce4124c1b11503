<?php
// Identical timers are merged into one, at the place of the first, with
// their values and hit counts summed: A, B, A, A gives A (3 hits), B.
$a = pinba_timer_start(["group" => "db", "op" => "select"]);
usleep(10000);
pinba_timer_stop($a);

$b = pinba_timer_start(["group" => "db", "op" => "update"]);
usleep(10000);
pinba_timer_stop($b);

$a = pinba_timer_start(["op" => "select", "group" => "db"]);
usleep(10000);
pinba_timer_stop($a);

$a = pinba_timer_start(["group" => "db", "op" => "select"]);
usleep(10000);
pinba_timer_stop($a);
