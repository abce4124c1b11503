package pynba

import "syscall"

// sysSendmmsg is sendmmsg's system call number.
const sysSendmmsg = syscall.SYS_SENDMMSG
