/* A side experiment for scripts/bench's profile notes: what a spawn costs a
 * process the size of supd, by how it spawns. It writes 4 MiB of heap, opens
 * FDS descriptors (close-on-exec, as supd's task pipes and log files are),
 * then N times starts the static task program (`bench-task stamp /dev/null 0`)
 * and waits for it:
 *   mode 0: fork, setsid, exec; the parent waits for the exec on a CLOEXEC
 *           pipe (what std::process::Command does with a pre_exec hook)
 *   mode 1: posix_spawn with POSIX_SPAWN_SETSID (clone(CLONE_VM|CLONE_VFORK))
 * and prints wall time, the parent's CPU time and its page faults per spawn.
 *
 *   gcc -O2 -static -nostdlib -fno-stack-protector -fno-builtin -o /tmp/bench-task scripts/bench-task.c
 *   gcc -O2 -o /tmp/bench-spawn scripts/bench-spawn.c
 *   ulimit -n 20000; /tmp/bench-spawn MODE N FDS HEAP_KIB /tmp/bench-task
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
static long long ns(clockid_t c){struct timespec t;clock_gettime(c,&t);return t.tv_sec*1000000000LL+t.tv_nsec;}
int main(int argc,char**argv){
  int mode=atoi(argv[1]), n=atoi(argv[2]), fds=atoi(argv[3]); long heapkb=atol(argv[4]);
  char *heap=malloc(heapkb*1024); memset(heap,1,heapkb*1024);   /* supd-like resident, written memory */
  for(int i=0;i<fds/2;i++){int p[2]; if(pipe2(p,O_CLOEXEC)<0){perror("pipe");return 1;}}
  char *args[]={argv[5],"stamp","/dev/null","0",NULL};
  long long w0=ns(CLOCK_MONOTONIC), c0=ns(CLOCK_PROCESS_CPUTIME_ID);
  for(int i=0;i<n;i++){
    pid_t pid;
    heap[(i*4096)%(heapkb*1024)]++; /* the parent keeps writing its memory, as an event loop does */
    if(mode==0){ /* fork + setsid + exec, parent waits for exec on a CLOEXEC pipe (std::process with pre_exec) */
      int p[2]; pipe2(p,O_CLOEXEC);
      pid=fork();
      if(pid==0){ setsid(); execv(args[0],args); _exit(127);}
      close(p[1]); char c; read(p[0],&c,1); close(p[0]);
    } else { /* posix_spawn (clone CLONE_VM|CLONE_VFORK) with POSIX_SPAWN_SETSID */
      posix_spawnattr_t a; posix_spawnattr_init(&a); posix_spawnattr_setflags(&a,POSIX_SPAWN_SETSID);
      if(posix_spawn(&pid,args[0],NULL,&a,args,environ)!=0){perror("spawn");return 1;}
      posix_spawnattr_destroy(&a);
    }
    waitpid(pid,NULL,0);
  }
  long long w1=ns(CLOCK_MONOTONIC), c1=ns(CLOCK_PROCESS_CPUTIME_ID);
  struct rusage ru; getrusage(RUSAGE_SELF,&ru);
  printf("%-28s fds %5d heap %6ld KiB: wall %.0f us/spawn, parent CPU %.0f us/spawn, minflt/spawn %.1f\n",
    mode?"posix_spawn+SETSID":"fork+setsid+exec (std)", fds, heapkb, (w1-w0)/1e3/n, (c1-c0)/1e3/n, (double)ru.ru_minflt/n);
  return 0;
}
