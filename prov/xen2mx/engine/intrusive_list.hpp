// A doubly linked list threaded through its elements (which carry prev and
// next pointers), so that queueing and unqueueing never allocate.
#pragma once

#include <cstddef>
#include <vector>

namespace xen2mx::engine {

template <typename T>
class IntrusiveList {
public:
    bool empty() const { return head_ == nullptr; }
    size_t size() const { return size_; }
    T* front() const { return head_; }

    void push_back(T* item) {
        item->next = nullptr;
        item->prev = tail_;
        if (tail_) tail_->next = item;
        else head_ = item;
        tail_ = item;
        ++size_;
    }

    void push_front(T* item) {
        item->prev = nullptr;
        item->next = head_;
        if (head_) head_->prev = item;
        else tail_ = item;
        head_ = item;
        ++size_;
    }

    // Puts item before `before`, or at the back when before is null.
    void insert_before(T* item, T* before) {
        if (!before) {
            push_back(item);
            return;
        }
        item->next = before;
        item->prev = before->prev;
        if (before->prev) before->prev->next = item;
        else head_ = item;
        before->prev = item;
        ++size_;
    }

    void remove(T* item) {
        if (item->prev) item->prev->next = item->next;
        else head_ = item->next;
        if (item->next) item->next->prev = item->prev;
        else tail_ = item->prev;
        item->prev = item->next = nullptr;
        --size_;
    }

    T* pop_front() {
        T* item = head_;
        if (item) remove(item);
        return item;
    }

    // Iteration that survives removal of the current element.
    template <typename Visit>
    void for_each(Visit visit) {
        for (T* item = head_; item;) {
            T* next = item->next;
            visit(item);
            item = next;
        }
    }

    template <typename Match>
    T* find(Match match) const {
        for (T* item = head_; item; item = item->next)
            if (match(item)) return item;
        return nullptr;
    }

private:
    T* head_ = nullptr;
    T* tail_ = nullptr;
    size_t size_ = 0;
};

// A fixed set of objects made once, handed out and taken back.
template <typename T>
class Pool {
public:
    explicit Pool(size_t count) : storage_(count) {
        free_.reserve(count);
        for (auto& item : storage_) free_.push_back(&item);
    }
    // nullptr when all are in use.
    T* get() {
        if (free_.empty()) return nullptr;
        T* item = free_.back();
        free_.pop_back();
        return item;
    }
    void put(T* item) {
        item->reset();
        free_.push_back(item);
    }
    size_t available() const { return free_.size(); }
    size_t size() const { return storage_.size(); }
    // Items by their place in the pool, for handles that travel on the wire.
    size_t index_of(const T* item) const { return static_cast<size_t>(item - storage_.data()); }
    T* at(size_t index) { return index < storage_.size() ? &storage_[index] : nullptr; }

private:
    std::vector<T> storage_;
    std::vector<T*> free_;
};

}  // namespace xen2mx::engine
