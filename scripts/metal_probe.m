// Prints the default Metal device and whether it has what ember's kernels need (SIMD-group
// reductions and simdgroup_matrix: GPU family Apple7+ or Metal3). Exit 0 when it does, 1 when it
// does not (e.g. GitHub's paravirtual runner GPU), 2 when there is no device.
// Build: clang -fobjc-arc -framework Metal -framework Foundation scripts/metal_probe.m -o metal_probe
#import <Foundation/Foundation.h>
#import <Metal/Metal.h>

int main(void) {
  @autoreleasepool {
    id<MTLDevice> dev = MTLCreateSystemDefaultDevice();
    if (!dev) {
      printf("no Metal device\n");
      return 2;
    }
    BOOL apple7 = [dev supportsFamily:MTLGPUFamilyApple7];
    BOOL metal3 = [dev supportsFamily:MTLGPUFamilyMetal3];
    printf("device: %s\nApple7: %d  Metal3: %d\n", dev.name.UTF8String, apple7, metal3);
    return (apple7 || metal3) ? 0 : 1;
  }
}
