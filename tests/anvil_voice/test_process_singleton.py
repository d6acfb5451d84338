import threading

from anvil_voice.process_singleton import ProcessSingleton


def test_threads_asking_at_once_build_the_value_once_and_share_it():
    builds: list[object] = []
    started = threading.Event()
    release = threading.Event()

    def build() -> object:
        started.set()
        release.wait(timeout=30)  # hold the first builder while the others arrive
        value = object()
        builds.append(value)
        return value

    singleton = ProcessSingleton(build)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(singleton.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert started.wait(timeout=30)
    assert not singleton.loaded
    release.set()
    for thread in threads:
        thread.join(timeout=30)

    assert len(builds) == 1
    assert results == [builds[0]] * 8
    assert singleton.loaded
    assert singleton.get() is builds[0]
