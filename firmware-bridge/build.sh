#!/usr/bin/env bash
# Build rayleigh_bridge for an ATmega328P (Arduino Uno/Nano, 16 MHz) with nothing but Debian's
# gcc-avr, avr-libc and arduino-core-avr: compiles the Arduino core and the sketch, links, and
# prints flash/RAM use against the Uno's 32 KB (32256 B usable beside the boot loader) / 2 KB.
# usage: firmware-bridge/build.sh [out-dir]   (default: firmware-bridge/build)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/build}"
core="${ARDUINO_CORE:-/usr/share/arduino/hardware/arduino/avr}"
mcu=atmega328p
fcpu=16000000L
for tool in avr-gcc avr-g++ avr-objcopy avr-size; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (apt-get install gcc-avr avr-libc)" >&2; exit 2; }
done
[ -f "$core/cores/arduino/Arduino.h" ] || { echo "build.sh: Arduino AVR core not found under $core (apt-get install arduino-core-avr)" >&2; exit 2; }
mkdir -p "$out/core"
common=(-mmcu="$mcu" -DF_CPU="$fcpu" -DARDUINO=10807 -DARDUINO_AVR_UNO -DARDUINO_ARCH_AVR
  -Os -g -Wall -Wextra -ffunction-sections -fdata-sections
  -I"$core/cores/arduino" -I"$core/variants/standard")
cflags=("${common[@]}" -std=gnu11)
cxxflags=("${common[@]}" -std=gnu++11 -fno-exceptions -fno-threadsafe-statics -fpermissive -Wno-error=narrowing)
objs=()
for src in "$core"/cores/arduino/*.c "$core"/cores/arduino/*.cpp "$core"/cores/arduino/*.S; do
  [ -e "$src" ] || continue
  # String is unused, and this core's WString.cpp wants a newer compiler than gcc-avr 5.4
  case "$(basename "$src")" in WString.cpp) continue ;; esac
  obj="$out/core/$(basename "$src").o"
  case "$src" in
    *.c) avr-gcc "${cflags[@]}" -w -c "$src" -o "$obj" ;;
    *.cpp) avr-g++ "${cxxflags[@]}" -w -c "$src" -o "$obj" ;;
    *.S) avr-gcc "${common[@]}" -x assembler-with-cpp -c "$src" -o "$obj" ;;
  esac
  objs+=("$obj")
done
rm -f "$out/core.a"
avr-gcc-ar rcs "$out/core.a" "${objs[@]}" 2>/dev/null || avr-ar rcs "$out/core.a" "${objs[@]}"
# the sketch is plain C++ with its prototypes in order, so it compiles as is (no .ino preprocessing)
avr-g++ "${cxxflags[@]}" -Werror -x c++ -c "$here/rayleigh_bridge/rayleigh_bridge.ino" -o "$out/rayleigh_bridge.o"
avr-gcc -mmcu="$mcu" -Os -Wl,--gc-sections -o "$out/rayleigh_bridge.elf" "$out/rayleigh_bridge.o" "$out/core.a" -lm
avr-objcopy -O ihex -R .eeprom "$out/rayleigh_bridge.elf" "$out/rayleigh_bridge.hex"
read -r text data bss _ < <(avr-size -A "$out/rayleigh_bridge.elf" | awk '$1==".text"{t=$2} $1==".data"{d=$2} $1==".bss"{b=$2} END{print t+0, d+0, b+0}')
flash=$((text + data))
ram=$((data + bss))
printf 'rayleigh_bridge for %s: flash %d B of 32768 (32256 usable with the boot loader, %.1f%%), RAM %d B of 2048 (%.1f%%) static\n' \
  "$mcu" "$flash" "$(echo "100*$flash/32256" | bc -l)" "$ram" "$(echo "100*$ram/2048" | bc -l)"
echo "elf: $out/rayleigh_bridge.elf"
