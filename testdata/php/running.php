<?php
// A timer left running when the request ends is stopped and sent; a deleted
// timer is not sent.
$done = pinba_timer_start(["step" => "done"]);
usleep(10000);
pinba_timer_stop($done);

$gone = pinba_timer_start(["step" => "deleted"]);
usleep(10000);
pinba_timer_delete($gone);

$left = pinba_timer_start(["step" => "left"]);
usleep(20000);
// $left is never stopped.
