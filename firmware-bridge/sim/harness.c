/*
 * Firmware-in-the-loop harness: runs the compiled rayleigh_bridge image on simavr's ATmega328P,
 * bridges UART0 to a pseudo-terminal (simavr's uart_pty part) and plays the mechanics: a STEP/DIR
 * driver and carriage per axis, with a limit switch that closes at or below a physical position.
 *
 * Every edge of a monitored pin is logged with its CPU cycle so the test can check pulse widths and
 * DIR-to-STEP setup times against driver datasheets; the harness itself judges nothing.
 *
 * usage: harness <firmware.elf> <log> [--axis step,dir,enable,limit,start,switchAt]... [--watch pin]... [--max-s N]
 *   pins are Arduino Uno numbers (0-7 PORTD, 8-13 PORTB, 14-19 PORTC); enable -1 = none; the
 *   driver's ENABLE is taken as active-low (A4988/DRV8825/TMC2209), the switch as wired to ground
 *   (active-low, needs the pull-up).
 * stdout: "PTY <path>" once the UART is bridged; "POS <axis> <steps>" per axis at exit.
 * stops on SIGTERM/SIGINT, when stdin closes, or after --max-s seconds of wall time.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avr_ioport.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"
#include "uart_pty.h"

#define MAX_AXES 4
#define FREQ 16000000UL

typedef struct {
  int step, dir, enable, limit;
  long pos, switchAt;
  int dirLevel, enableLevel, stepLevel;
  int pressed;
  avr_irq_t *limitIrq;
} axis_t;

static avr_t *avr;
static FILE *logf;
static axis_t axes[MAX_AXES];
static int naxes;
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static avr_irq_t *pin_irq(int pin) {
  char port;
  int bit;
  if (pin < 0) return NULL;
  if (pin < 8) {
    port = 'D';
    bit = pin;
  } else if (pin < 14) {
    port = 'B';
    bit = pin - 8;
  } else if (pin < 20) {
    port = 'C';
    bit = pin - 14;
  } else {
    return NULL;
  }
  return avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), bit);
}

/* data-space addresses of DDRx (ATmega328P datasheet, "Register Summary"): B 0x24, C 0x27, D 0x2A */
static int pin_is_output(int pin) {
  if (pin < 0) return 0;
  if (pin < 8) return (avr->data[0x2A] >> pin) & 1;
  if (pin < 14) return (avr->data[0x24] >> (pin - 8)) & 1;
  if (pin < 20) return (avr->data[0x27] >> (pin - 14)) & 1;
  return 0;
}

static void update_switch(axis_t *a) {
  if (!a->limitIrq) return;
  int pressed = a->pos <= a->switchAt;
  if (pressed == a->pressed) return;
  a->pressed = pressed;
  fprintf(logf, "%llu L%d %d\n", (unsigned long long)avr->cycle, a->limit, pressed);
  // switch to ground: pressed reads low
  avr_raise_irq(a->limitIrq, pressed ? 0 : 1);
}

static void on_watch(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  fprintf(logf, "%llu P%d %u\n", (unsigned long long)avr->cycle, (int)(intptr_t)param, value & 1);
}

static void on_pin(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  long packed = (long)(intptr_t)param;
  int ai = (int)(packed >> 8), role = (int)(packed & 0xff);
  axis_t *a = &axes[ai];
  int pin = role == 0 ? a->step : role == 1 ? a->dir : a->enable;
  fprintf(logf, "%llu P%d %u\n", (unsigned long long)avr->cycle, pin, value & 1);
  if (role == 1) a->dirLevel = value & 1;
  // an ENABLE left as an input drives nothing; count it as disabled (the board's pull-up decides)
  else if (role == 2) a->enableLevel = pin_is_output(pin) ? (int)(value & 1) : 1;
  else {
    int rising = (value & 1) && !a->stepLevel;
    a->stepLevel = value & 1;
    // the driver counts rising edges, in the direction DIR holds at that edge, only when enabled
    if (rising && (a->enable < 0 || a->enableLevel == 0)) {
      a->pos += a->dirLevel ? 1 : -1;
      update_switch(a);
    }
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s firmware.elf log [--axis step,dir,enable,limit,start,switchAt]... [--max-s N]\n", argv[0]);
    return 2;
  }
  double maxS = 120;
  int watch[8], nwatch = 0;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--axis") && i + 1 < argc && naxes < MAX_AXES) {
      axis_t *a = &axes[naxes++];
      if (sscanf(argv[++i], "%d,%d,%d,%d,%ld,%ld", &a->step, &a->dir, &a->enable, &a->limit, &a->pos, &a->switchAt) != 6) {
        fprintf(stderr, "bad --axis %s\n", argv[i]);
        return 2;
      }
      a->enableLevel = 1;  // a floating input with the driver's pull-up reads high: disabled
      a->pressed = -1;
    } else if (!strcmp(argv[i], "--watch") && i + 1 < argc && nwatch < 8) {
      watch[nwatch++] = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--max-s") && i + 1 < argc) {
      maxS = atof(argv[++i]);
    } else {
      fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  elf_firmware_t fw;
  memset(&fw, 0, sizeof fw);
  if (elf_read_firmware(argv[1], &fw) != 0) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  avr = avr_make_mcu_by_name("atmega328p");
  if (!avr) return 1;
  avr_init(avr);
  avr->frequency = FREQ;
  avr_load_firmware(avr, &fw);
  logf = fopen(argv[2], "w");
  if (!logf) {
    fprintf(stderr, "cannot write %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  fprintf(logf, "# freq %lu\n", FREQ);
  for (int i = 0; i < naxes; i++) {
    axis_t *a = &axes[i];
    avr_irq_register_notify(pin_irq(a->step), on_pin, (void *)(intptr_t)((i << 8) | 0));
    avr_irq_register_notify(pin_irq(a->dir), on_pin, (void *)(intptr_t)((i << 8) | 1));
    if (a->enable >= 0) avr_irq_register_notify(pin_irq(a->enable), on_pin, (void *)(intptr_t)((i << 8) | 2));
    a->limitIrq = a->limit >= 0 ? pin_irq(a->limit) : NULL;
    update_switch(a);
  }
  for (int i = 0; i < nwatch; i++) avr_irq_register_notify(pin_irq(watch[i]), on_watch, (void *)(intptr_t)watch[i]);
  static uart_pty_t uart;
  uart_pty_init(avr, &uart);
  uart_pty_connect(&uart, '0');
  // let setup() run (50 ms), then say which pins the firmware drives after reset
  while (avr->cycle < FREQ / 20) avr_run(avr);
  printf("DDR B=%02x C=%02x D=%02x PORT B=%02x C=%02x D=%02x\n", avr->data[0x24], avr->data[0x27], avr->data[0x2A],
         avr->data[0x25], avr->data[0x28], avr->data[0x2B]);
  printf("PTY %s\n", uart.pty.slavename);
  fflush(stdout);

  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  double t0 = now_s();
  int state = cpu_Running;
  unsigned long n = 0;
  while (!stop && state != cpu_Done && state != cpu_Crashed) {
    state = avr_run(avr);
    if (++n % 20000 != 0) continue;
    // keep simulated time at wall-clock pace: host timeouts are wall time
    double wall = now_s() - t0;
    double sim = (double)avr->cycle / FREQ;
    if (sim > wall + 0.002) {
      struct timespec d = {0, (long)((sim - wall) * 1e9)};
      nanosleep(&d, NULL);
    }
    if (wall > maxS) break;
    struct pollfd p = {0, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
      char b[64];
      if (read(0, b, sizeof b) <= 0) break;
    }
  }
  for (int i = 0; i < naxes; i++) printf("POS %d %ld\n", i, axes[i].pos);
  fprintf(logf, "# end cycle %llu state %d\n", (unsigned long long)avr->cycle, state);
  fclose(logf);
  fflush(stdout);
  // not uart_pty_stop(): its thread join can hang on exit; the process ending closes the pty
  _exit(state == cpu_Crashed ? 3 : 0);
  return state == cpu_Crashed ? 3 : 0;
}
