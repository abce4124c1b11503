<?php
// A plain request: 20 ms of work and six bytes of output, nothing set by hand.
usleep(20000);
echo "hello\n";
