<?php
// Timers with tags: names and values repeat across timers (the dictionary
// must hold each word once), keys are given unsorted, and values are ints and
// floats as well as strings.
$t = pinba_timer_start(["op" => "select", "group" => "db"]);
usleep(20000);
pinba_timer_stop($t);

$t = pinba_timer_start(["group" => "db", "op" => "insert", "table" => "users"]);
usleep(10000);
pinba_timer_stop($t);

$t = pinba_timer_start(["group" => "cache", "op" => "select", "backend" => "db"]);
usleep(10000);
pinba_timer_stop($t);

$t = pinba_timer_start(["group" => "db", "shard" => 3, "weight" => 1.5, "neg" => -7, "zero" => 0]);
usleep(10000);
pinba_timer_stop($t);
