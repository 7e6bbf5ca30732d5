// Package splice will hold netsplice's socket splicing: OpenBSD SO_SPLICE
// semantics (see ../shared/SPLICE.md in the project's shared documents)
// running on the softnet that owns the source flow.
//
// Nothing is implemented here yet; the splicing issue builds it on the
// TCP and UDP sockets of package stack. The design it will follow:
//
//   - Splice(src, drain, max, idle), Unsplice(src) and SpliceLen(src), with
//     OpenBSD's refusals, end reasons and errno values (errors.Is with
//     syscall errnos).
//   - The splice task belongs to the softnet that owns src's flow (RSS hash
//     of the 4-tuple -> queue -> softnet). Input on src and acknowledgements
//     on the drain queue it there; it moves packet buffers from src's
//     receive queue to the drain's send queue without copying payload.
//   - Tasks are reference counted (package stack/task), so unsplicing or
//     closing a socket never waits on a barrier of the queue it runs on.
package splice
