package pynba

// sysSendmmsg is sendmmsg's system call number (the syscall package does
// not name it on amd64).
const sysSendmmsg = 307
