package dev.moa.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code moa serve}'s byte counts: a number with an optional K/M/G suffix (powers of 1024); anything else is one clear sentence. */
class ServeCommandTest {
    @Test
    void byteCountsTakeBinarySuffixes() {
        assertEquals(4096, ServeCommand.bytes("4096", "--max-body"));
        assertEquals(512L << 20, ServeCommand.bytes("512M", "--kv-budget"));
        assertEquals(2L << 30, ServeCommand.bytes("2g", "--kv-budget"));
        assertEquals(1536, ServeCommand.bytes("1.5K", "--max-body"));
        assertEquals(3L << 30, ServeCommand.bytes("3GB", "--kv-budget"));
        for (String bad : new String[] {"", "G", "-1M", "0", "lots", "1T", "1e30G"}) {
            var e = assertThrows(UsageException.class, () -> ServeCommand.bytes(bad, "--kv-budget"), bad);
            assertTrue(e.getMessage().startsWith("--kv-budget must be"), e.getMessage());
        }
    }

    @Test
    void theDefaultKvBudgetIsTheDevicesFreeMemoryLessATenthOrAQuarterOfTheHeap() {
        assertEquals(8L << 30, ServeCommand.defaultKvBudget(java.util.OptionalLong.empty(), 32L << 30), "no device: a quarter of the heap");
        // 80 GiB free: 8 GiB kept for prompts and activations (the heap does not bound a device)
        assertEquals(72L << 30, ServeCommand.defaultKvBudget(java.util.OptionalLong.of(80L << 30), 1L << 30));
        assertEquals(512L << 20, ServeCommand.defaultKvBudget(java.util.OptionalLong.of(3L << 29), 1L << 30), "at least 1 GiB is kept");
        var e = assertThrows(UsageException.class, () -> ServeCommand.defaultKvBudget(java.util.OptionalLong.of(1L << 30), 64L << 30));
        assertTrue(e.getMessage().startsWith("the device has 1.00 GiB free after the model's weights"), e.getMessage());
    }
}
