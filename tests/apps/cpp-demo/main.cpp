// cpp-demo: the C++ program kdap's gdb tests debug (g++ -g -O0).
// A loop every 20 ms: an Account (a class with a std::string, an int and a
// std::vector<int>) gets a deposit; a std::vector<std::string> of names
// grows.  Prints "tick N" so a test sees it run.  Marked lines: "LINE:".
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

class Account {
  public:
    Account(std::string owner, int balance)
        : owner_(std::move(owner)), balance_(balance)
    {
    }
    int deposit(int amount)
    {
        balance_ += amount; // LINE:deposit
        history_.push_back(amount);
        if (history_.size() > 8)
            history_.erase(history_.begin());
        return balance_;
    }
    const std::string &owner() const { return owner_; }

  private:
    std::string owner_;
    int balance_;
    std::vector<int> history_;
};

int main()
{
    Account acc("alice", 100);
    std::vector<std::string> names = {"ann", "bob", "cy"};
    std::string greeting = "hello";
    setvbuf(stdout, nullptr, _IOLBF, 0);
    std::printf("cpp-demo ready pid %d\n", (int)getpid());
    for (int n = 0;; n++) {
        int b = acc.deposit(n % 7); // LINE:call
        std::printf("tick %d %d %s\n", n, b, acc.owner().c_str());
        usleep(20000);
    }
}
