package dev.moa.loader.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.loader.config.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A config that is a FIFO, a device, a folder or a bad link is refused at once with what it is, never read. */
class InputFilesTest {
    @TempDir
    Path dir;

    private String errorOf() {
        return assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrows(IOException.class, () -> ModelConfig.load(dir)).getMessage());
    }

    @Test
    void onlyRegularFilesOfBoundedSizeAreRead() throws Exception {
        Path config = dir.resolve("config.json");
        assertEquals(0, new ProcessBuilder("mkfifo", config.toString()).start().waitFor());
        String fifo = errorOf(); // reading it would block until a writer came
        assertTrue(fifo.contains("not a regular file"), fifo);

        Files.delete(config);
        Files.createSymbolicLink(config, Path.of("/dev/zero"));
        String device = errorOf(); // reading it would fill the heap
        assertTrue(device.contains("not a regular file"), device);

        Files.delete(config);
        Files.createDirectory(config);
        assertTrue(errorOf().contains("is a directory"));

        Files.delete(config);
        Files.createSymbolicLink(config, dir.resolve("blobs/missing"));
        String broken = errorOf();
        assertTrue(broken.contains("broken symbolic link"), broken);

        Files.delete(config);
        Path other = dir.resolve("other.json");
        Files.createSymbolicLink(other, config);
        Files.createSymbolicLink(config, other);
        String loop = errorOf();
        assertTrue(loop.contains("symbolic link loop"), loop);
    }

    @Test
    void aSymlinkIntoBlobsIsFollowedAndTooLargeAFileIsRefusedBeforeReading() throws Exception {
        Path blob = Files.createDirectories(dir.resolve("blobs")).resolve("abc");
        Files.writeString(blob, "{\"a\": 1}");
        Path link = dir.resolve("x.json");
        Files.createSymbolicLink(link, blob);
        assertEquals("{\"a\": 1}", InputFiles.readText(link, 100));
        String big = assertThrows(IOException.class, () -> InputFiles.readText(link, 4)).getMessage();
        assertTrue(big.contains("8 bytes, more than"), big);
    }

    /** The HF cache's snapshot files are links into blobs: a weight file whose blob is missing says so. */
    @Test
    void aWeightFileThatIsABrokenLinkIsNamedAsOne() throws Exception {
        Files.createSymbolicLink(dir.resolve(dev.moa.loader.safetensors.WeightFiles.SINGLE_FILE), dir.resolve("blobs/0123abcd"));
        String message = assertThrows(IOException.class, () -> dev.moa.loader.safetensors.WeightFiles.open(dir).close()).getMessage();
        assertTrue(message.contains("model.safetensors: broken symbolic link (its target") && message.contains("blobs/0123abcd"), message);

        Files.delete(dir.resolve(dev.moa.loader.safetensors.WeightFiles.SINGLE_FILE));
        assertEquals(0, new ProcessBuilder("mkfifo", dir.resolve("model.safetensors").toString()).start().waitFor());
        String fifo = assertTimeoutPreemptively(Duration.ofSeconds(10),
                () -> assertThrows(IOException.class, () -> dev.moa.loader.safetensors.WeightFiles.open(dir).close()).getMessage());
        assertTrue(fifo.contains("not a regular file"), fifo);
    }
}
